//! Lists that stay useful and waits that end: `instance list` shows live instances newest
//! first and counts the terminated ones it leaves out, `app list` the latest version of each
//! Name, global flags work before the subcommand, and `instance status --wait` returns when
//! the instance runs or fails with why. Against a real `q8s-server` on its fake runtime
//! (instances run at once; the sandbox is tested elsewhere).

mod common;

use common::{Server, User, block_on, normalize, stderr, stdout};
use q8s_testing::apps::app_variant;
use serde_json::Value;

fn fake_server() -> Server {
    Server::start_with(&["--runtime", "fake"])
}

fn ids(list: &Value) -> Vec<String> {
    let list = list
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"));
    list.iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Launches an instance of `app` and waits until it runs (`status --wait`).
fn launch(user: &User, app: &str) -> String {
    let instance = user.json(&["app", "run", app]);
    let id = instance["id"].as_str().unwrap().to_owned();
    assert_eq!(user.ok(&["instance", "status", &id, "--wait"]), "RUNNING\n");
    id
}

#[test]
fn instance_lists_leave_terminated_instances_out_and_count_them() {
    let server = fake_server();
    let admin = server.admin();
    let (_dir, bundle) = app_variant("ai.h2o.q8s.hello", "0.1.0", &[]);
    let app = admin.json(&["bundle", "import", bundle.to_str().unwrap()]);
    let app = app["id"].as_str().unwrap();
    let launched: Vec<String> = (0..3).map(|_| launch(&admin, app)).collect();
    admin.ok(&["instance", "terminate", &launched[0]]);

    // Newest first, the live ones; JSON stays a list.
    let live = admin.json(&["instance", "list"]);
    assert_eq!(ids(&live), [launched[2].clone(), launched[1].clone()]);
    let text = admin.ok(&["instance", "list"]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(lines[1].starts_with(&launched[2]), "{text}");
    assert_eq!(
        lines[3],
        "1 terminated instance not shown (--status all lists it)"
    );

    let all = admin.json(&["instance", "list", "--status", "all"]);
    assert_eq!(
        ids(&all),
        launched.iter().rev().cloned().collect::<Vec<_>>()
    );
    // A terminated instance offers no link (its URL answers 410).
    let text = admin.ok(&["instance", "list", "--status", "terminated"]);
    assert_eq!(
        normalize(&text),
        "ID APP VERSION OWNER STATUS CREATED VISIBILITY URL\n\
         <id> ai.h2o.q8s.hello 0.1.0 admin TERMINATED <age> PRIVATE -\n"
    );
    let o = admin.run(&["instance", "list", "--status", "stopped"]);
    assert_eq!(o.status.code(), Some(2), "a usage error");
    assert!(
        stderr(&o).contains("`stopped` is not live, all, or statuses"),
        "{}",
        stderr(&o)
    );

    // --wait on an instance that will never run says so, with what to do.
    let o = admin.run(&["instance", "status", &launched[0], "--wait"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(stdout(&o), "TERMINATED\n");
    assert!(
        stderr(&o).contains(&format!("instance {} is TERMINATED", launched[0]))
            && stderr(&o).contains("q8s-cli app run"),
        "{}",
        stderr(&o)
    );
    // -o json: one document on stdout, the error naming the status.
    let o = admin.run(&["instance", "status", &launched[0], "--wait", "-o", "json"]);
    assert_eq!(o.status.code(), Some(1));
    let error: Value = serde_json::from_slice(&o.stdout).expect("one JSON document");
    let message = error["error"]["message"].as_str().unwrap();
    assert!(message.contains("is TERMINATED"), "{message}");
    assert_eq!(error["error"]["code"], "instance-failed", "{error}");
    assert_eq!(
        error["error"]["hint"],
        "launch a new instance with `q8s-cli app run`"
    );
    let running = admin.json(&["instance", "status", &launched[1], "--wait"]);
    assert_eq!(running["status"], "RUNNING");
    // The timeout goes with --wait only.
    let o = admin.run(&["instance", "status", &launched[1], "--timeout", "5"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[test]
fn app_lists_show_the_latest_version_unless_asked() {
    let server = fake_server();
    let admin = server.admin();
    let mut dirs = Vec::new();
    for (name, version) in [
        ("ai.h2o.q8s.hello", "0.1.0"),
        ("ai.h2o.q8s.other", "1.0.0"),
        ("ai.h2o.q8s.hello", "0.2.0"),
    ] {
        let (dir, bundle) = app_variant(name, version, &[]);
        admin.ok(&["bundle", "import", bundle.to_str().unwrap()]);
        dirs.push(dir);
    }
    let versions = |list: Value| -> Vec<String> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|a| {
                format!(
                    "{} {}",
                    a["name"].as_str().unwrap(),
                    a["version"].as_str().unwrap()
                )
            })
            .collect()
    };
    assert_eq!(
        versions(admin.json(&["app", "list"])),
        ["ai.h2o.q8s.hello 0.2.0", "ai.h2o.q8s.other 1.0.0"]
    );
    assert_eq!(
        versions(admin.json(&["app", "list", "--all-versions"])),
        [
            "ai.h2o.q8s.hello 0.1.0",
            "ai.h2o.q8s.hello 0.2.0",
            "ai.h2o.q8s.other 1.0.0"
        ]
    );
    assert_eq!(
        versions(admin.json(&[
            "app",
            "list",
            "--name",
            "ai.h2o.q8s.hello",
            "--all-versions"
        ])),
        ["ai.h2o.q8s.hello 0.1.0", "ai.h2o.q8s.hello 0.2.0"]
    );
}

#[test]
fn global_flags_stand_before_or_after_the_subcommand() {
    let server = fake_server();
    // No Q8S_* settings: the flags alone name the server and the token.
    let user = User::new();
    let url = server.url.as_str();
    let token = server.admin_token.as_str();
    let after = user.ok(&["app", "list", "--url", url, "--token", token, "-o", "json"]);
    assert_eq!(
        serde_json::from_str::<Value>(&after).unwrap(),
        Value::Array(vec![])
    );
    for args in [
        vec!["-o", "json", "app", "list", "--url", url, "--token", token],
        vec!["--url", url, "--token", token, "-o", "json", "app", "list"],
        vec!["--url", url, "app", "--token", token, "list", "-o", "json"],
        vec![
            "--output", "json", "--url", url, "--token", token, "instance", "list",
        ],
    ] {
        let o = user.run(&args);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
        assert_eq!(stdout(&o), after, "{args:?}");
    }
    // --profile too: a profile saved by `config setup`, named before the subcommand.
    user.ok(&[
        "config",
        "setup",
        "--url",
        url,
        "--token",
        token,
        "--profile",
        "p",
    ]);
    let o = user.run(&["--profile", "p", "-o", "json", "instance", "list"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "[]\n");
}

#[test]
fn status_wait_fails_with_the_reason_and_the_end_of_the_log() {
    // The real runtime: uv finds no such package.
    let server = Server::start();
    let admin = server.admin();
    let app = common::repo_root().join("tests/apps/fail-install");
    let deployed = admin.json(&["bundle", "deploy", app.to_str().unwrap(), "--no-wait"]);
    let id = deployed["instance"]["id"].as_str().unwrap();
    let o = admin.run(&["instance", "status", id, "--wait", "--timeout", "240"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(stdout(&o), "FAILED\n");
    let err = stderr(&o);
    assert!(
        err.contains(&format!("last lines of the log of instance {id}:"))
            && err.contains("q8s-no-such-package-zzz"),
        "{err}"
    );
    let last = err.lines().last().unwrap();
    assert!(
        last.starts_with(&format!(
            "error: instance {id} is FAILED: installing the environment failed"
        )) && last.ends_with(&format!(
            "(instance-failed) — see `q8s-cli instance logs {id}`"
        )),
        "{last}"
    );
}

#[test]
fn lists_show_everything_or_the_first_n_with_a_line_saying_more() {
    let server = fake_server();
    let admin = server.admin();
    let mut apps = Vec::new();
    for name in ["ai.h2o.q8s.c", "ai.h2o.q8s.a", "ai.h2o.q8s.b"] {
        let (_dir, bundle) = app_variant(name, "0.1.0", &[]);
        let app = admin.json(&["bundle", "import", bundle.to_str().unwrap()]);
        apps.push(app["id"].as_str().unwrap().to_owned());
    }
    let launched: Vec<String> = (0..3).map(|_| launch(&admin, &apps[0])).collect();

    // --limit N: the first N (by Name; newest instances), and a last line when there are more.
    let two = admin.json(&["app", "list", "--limit", "2"]);
    assert_eq!(ids(&two), [apps[1].clone(), apps[2].clone()]);
    let text = admin.ok(&["app", "list", "--limit", "2"]);
    assert_eq!(
        text.lines().last(),
        Some("more apps not shown (a larger --limit, or none, lists them)"),
        "{text}"
    );
    let text = admin.ok(&["app", "list", "--limit", "3"]);
    assert!(!text.contains("more apps"), "exactly all: {text}");
    assert_eq!(text.lines().count(), 4, "{text}");
    let one = admin.json(&["instance", "list", "--limit", "1"]);
    assert_eq!(ids(&one), [launched[2].clone()]);
    let text = admin.ok(&["instance", "list", "--limit", "1"]);
    assert!(text.contains("\nmore instances not shown"), "{text}");
    let o = admin.run(&["app", "list", "--limit", "0"]);
    assert_eq!(o.status.code(), Some(2), "a usage error: {}", stderr(&o));

    // Without --limit, every item: past the largest page the API gives (1000), the CLI
    // follows the cursors. Tokens are the cheapest items to make 1000 more of.
    block_on(async {
        let client = common::http();
        for _ in 0..1000 {
            let r = client
                .post(format!("{}/api/v1/tokens", server.url))
                .bearer_auth(&server.admin_token)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 201);
        }
    });
    let tokens = admin.json(&["token", "list"]);
    let tokens = tokens.as_array().unwrap();
    assert_eq!(tokens.len(), 1001);
    let unique: std::collections::HashSet<&str> =
        tokens.iter().map(|t| t["id"].as_str().unwrap()).collect();
    assert_eq!(unique.len(), 1001, "no token twice");
}
