//! `q8s-cli exec`: the app served at `http://localhost:<port>/` by the service's runtime,
//! in-process, its log on stdout, and nothing left behind — no process, no file, no port —
//! after SIGINT.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{User, eventually, files_under, hello};

/// Processes whose command line mentions `path` (the sandboxes bind the app from there).
fn processes_using(path: &Path) -> Vec<String> {
    let needle = path.to_string_lossy().into_owned();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(&needle) {
            found.push(format!("{name}: {cmdline}"));
        }
    }
    found
}

fn get(port: u16) -> Option<(u16, String)> {
    common::block_on(async {
        let r = common::http()
            .get(format!("http://127.0.0.1:{port}/"))
            .header("host", format!("localhost:{port}"))
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .ok()?;
        Some((r.status().as_u16(), r.text().await.ok()?))
    })
}

#[test]
fn exec_serves_the_app_and_leaves_nothing_after_sigint() {
    let user = User::new();
    let port = common::free_port();
    let out_path = user.home.path().join("exec.out");
    let err_path = user.home.path().join("exec.err");
    let mut child = user
        .command(&[
            "exec",
            hello().to_str().unwrap(),
            "--port",
            &port.to_string(),
        ])
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = || std::fs::read_to_string(&err_path).unwrap_or_default();

    // Until the app runs, the page says it is starting (and reloads itself).
    let page = eventually(Duration::from_secs(180), "the app to answer", || {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("exec ended early ({status}): {}", stderr());
        }
        match get(port) {
            Some((200, body)) => Some(body),
            Some((503, body)) => {
                assert!(body.contains("starting"), "{body}");
                None
            }
            Some((502, body)) => {
                assert!(body.contains("does not answer"), "{body}");
                None
            }
            _ => None,
        }
    });
    assert!(
        page.to_ascii_lowercase().contains("<!doctype html>"),
        "{page}"
    );
    assert!(
        stderr().contains(&format!("exec: RUNNING at http://localhost:{port}/")),
        "{}",
        stderr()
    );
    let log = std::fs::read_to_string(&out_path).unwrap();
    assert!(
        log.contains("q8s: starting the app hello.app"),
        "the log streams: {log}"
    );
    assert!(
        !files_under(&user.tmp()).is_empty(),
        "the work folder is under TMPDIR"
    );
    assert!(
        !processes_using(&user.tmp()).is_empty(),
        "the sandboxes bind it"
    );

    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "exec did not stop: {}",
            stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(status.code(), Some(0), "{}", stderr());
    assert!(stderr().contains("exec: stopped; removed "), "{}", stderr());
    assert_eq!(
        std::fs::read_dir(user.tmp()).unwrap().count(),
        0,
        "no file left: {:?}",
        files_under(&user.tmp())
    );
    assert_eq!(
        processes_using(&user.tmp()),
        Vec::<String>::new(),
        "no process left"
    );
    assert!(
        std::net::TcpListener::bind(("127.0.0.1", port)).is_ok(),
        "the port is free again"
    );
}

#[test]
fn exec_refuses_an_invalid_app_and_a_busy_port() {
    let user = User::new();
    let app = tempfile::tempdir().unwrap();
    std::fs::write(app.path().join("q-app.toml"), "[App]\nName = \"x\"\n").unwrap();
    let o = user.run(&["exec", app.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        common::stderr(&o).contains("error["),
        "{}",
        common::stderr(&o)
    );

    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    let o = user.run(&["exec", hello().to_str().unwrap(), "--port", &port]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        common::stderr(&o).contains(&format!(
            "cannot listen on 127.0.0.1:{port}; choose another port with --port"
        )),
        "{}",
        common::stderr(&o)
    );
    assert_eq!(
        std::fs::read_dir(user.tmp()).unwrap().count(),
        0,
        "nothing left"
    );
}
