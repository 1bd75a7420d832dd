//! `bundle deploy` against a real server: `examples/hello` deployed, RUNNING and answering
//! through the proxy; `instance logs -f` ending when the instance is terminated; a deploy that
//! fails showing the log's tail.

mod common;

use std::io::Read as _;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{Server, golden, hello, stderr, stdout};
use serde_json::Value;

/// GET through the server's proxy: `Host: <id>.localhost:<port>` with the admin's token.
fn get_instance_page(server: &Server, instance: &str) -> (u16, String) {
    common::block_on(async {
        let r = common::http()
            .get(format!("{}/", server.url))
            .header("host", format!("{instance}.localhost:{}", server.port))
            .bearer_auth(&server.admin_token)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    })
}

#[test]
fn deploy_hello_then_open_it_follow_its_log_and_terminate_it() {
    let server = Server::start();
    let admin = server.admin();
    let o = admin.run(&["bundle", "deploy", hello().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}\n{}", stderr(&o), server.log());
    let out = stdout(&o);
    golden("bundle_deploy.txt", &out);
    let summary = stderr(&o);
    let last = summary.lines().last().unwrap();
    assert!(
        last.starts_with("RUNNING in ")
            && last.contains("(bundle ")
            && last.contains(", upload ")
            && last.contains(", start "),
        "{summary}"
    );
    let instance = out
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("ID "))
        .unwrap()
        .trim()
        .to_owned();
    let url = out
        .lines()
        .find_map(|l| l.strip_prefix("URL "))
        .unwrap()
        .trim();
    assert_eq!(url, format!("http://{instance}.localhost:{}/", server.port));

    let (status, page) = get_instance_page(&server, &instance);
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("<!doctype html>") || page.contains("<!DOCTYPE html>"),
        "{page}"
    );

    // Share it: any signed-in user may open it now.
    admin.ok(&["instance", "update", &instance, "-v", "ALL_USERS"]);
    assert_eq!(
        admin.json(&["instance", "get", &instance])["visibility"],
        "ALL_USERS"
    );

    // The log, its end, and as JSON strings.
    let tail = admin.ok(&["instance", "logs", &instance, "--tail", "2"]);
    assert_eq!(tail.lines().count(), 2, "{tail}");
    let all = admin.ok(&["instance", "logs", &instance]);
    assert!(
        all.contains("q8s: starting the app hello.app") && all.contains(&tail),
        "{all}"
    );
    let o = admin.run(&["instance", "logs", &instance, "--tail", "2", "-o", "json"]);
    let lines: Vec<String> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON string per line"))
        .collect();
    assert_eq!(lines.len(), 2);
    assert!(lines.iter().all(|l| all.contains(l.as_str())), "{lines:?}");

    // `logs -f` prints what is there, then follows until the instance stops.
    let mut follow = admin
        .command(&["instance", "logs", &instance, "-f", "--tail", "3"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert!(follow.try_wait().unwrap().is_none(), "still following");
    let terminated = admin.json(&["instance", "terminate", &instance]);
    assert_eq!(terminated["status"], "TERMINATED");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = follow.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "logs -f did not end after terminate"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(status.code(), Some(0));
    let mut log = String::new();
    follow
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    let lines: Vec<&str> = log.lines().collect();
    assert!(lines.len() > 3, "the tail and what followed: {log}");
    assert!(
        lines.iter().all(|l| l.len() > 22 && &l[19..22] == " # "),
        "every line has the yyyy/mm/dd HH:MM:SS # prefix: {log}"
    );
    let (status, _) = get_instance_page(&server, &instance);
    assert_ne!(status, 200, "a terminated instance no longer answers");

    // -o json: the app, the instance and the time of each step.
    let v: Value = admin.json(&["bundle", "deploy", hello().to_str().unwrap()]);
    assert_eq!(v["instance"]["status"], "RUNNING");
    assert!(v["app"]["version"].as_str().unwrap().starts_with("0.1.0-"));
    for step in ["bundle_seconds", "upload_seconds", "start_seconds"] {
        assert!(v["timings"][step].as_f64().unwrap() >= 0.0, "{v}");
    }
    // Each deploy is a version: the list shows the latest, --all-versions both.
    assert_eq!(admin.json(&["app", "list"]).as_array().unwrap().len(), 1);
    let all = admin.json(&["app", "list", "--all-versions"]);
    assert_eq!(all.as_array().unwrap().len(), 2);
    // --no-wait returns while the instance may still be starting; the imported temp bundles
    // are gone either way.
    let o = admin.run(&["bundle", "deploy", hello().to_str().unwrap(), "--no-wait"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        common::files_under(&admin.tmp()).is_empty(),
        "temporary bundles removed"
    );
}

#[test]
fn a_failed_deploy_shows_the_log_tail_and_exits_1() {
    let server = Server::start();
    let admin = server.admin();
    let app = tempfile::tempdir().unwrap();
    let write = |path: &str, bytes: &[u8]| {
        let path = app.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    };
    write(
        "q-app.toml",
        b"[App]\nName = \"broken\"\nVersion = \"1.0.0\"\n[Runtime]\nModule = \"main\"\n",
    );
    write("main.py", b"print('never runs')\n");
    write(
        "requirements.txt",
        b"./wheels/broken-1.0-py3-none-any.whl\n",
    );
    write(
        "wheels/broken-1.0-py3-none-any.whl",
        b"this is not a zip file",
    );
    let o = admin.run(&["bundle", "deploy", app.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("last lines of the log of instance"), "{err}");
    assert!(
        err.contains("broken-1.0-py3-none-any.whl"),
        "uv's words: {err}"
    );
    let last = err.lines().last().unwrap();
    assert!(
        last.starts_with("error: instance ")
            && last.contains(" is FAILED: installing the environment failed")
            && last.contains("(instance-failed) — see `q8s-cli instance logs "),
        "{last}"
    );
}

#[test]
fn a_failed_install_says_which_package_in_the_last_line() {
    let server = Server::start();
    let admin = server.admin();
    let app = common::repo_root().join("tests/apps/fail-install");
    let o = admin.run(&["bundle", "deploy", app.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    let last = err.lines().last().unwrap();
    assert!(
        last.contains(" is FAILED: installing the environment failed: uv pip install: ")
            && last.contains("q8s-no-such-package-zzz was not found in the package registry")
            && last.contains("(instance-failed)"),
        "{last}"
    );
}

#[test]
fn import_refuses_an_invalid_folder_with_its_diagnostics() {
    let server = Server::start();
    let admin = server.admin();
    let app = tempfile::tempdir().unwrap();
    std::fs::write(
        app.path().join("q-app.toml"),
        "[App]\nName = \"x\"\nVersion = \"0.1\"\n[Runtime]\nModule = \"main\"\n",
    )
    .unwrap();
    let o = admin.run(&["bundle", "import", app.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("error[invalid-version]"), "{err}");
    assert!(err.contains("q-app.toml:3:"), "{err}");
    assert!(stdout(&o).is_empty());
    assert_eq!(
        admin.json(&["app", "list"]),
        Value::Array(vec![]),
        "nothing imported"
    );
    let o = admin.run(&[
        "bundle",
        "import",
        app.path().to_str().unwrap(),
        "-o",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["error"]["code"], "invalid-bundle");
}
