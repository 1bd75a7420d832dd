//! Errors that say what happened: a URL no profile is for, a URL with the API's path, typos
//! of command names, id prefixes and unknown ids, `-o json` errors, and a stdout closed early.
//! Against a real `q8s-server` (on the fake runtime where instances are only listed).

mod common;

use std::io::Read as _;
use std::process::Stdio;

use common::{Server, User, hello, stderr, stdout};
use serde_json::Value;

/// `server`'s address by IP (its `url` is by name, `localhost`).
fn by_ip(server: &Server) -> String {
    format!("http://127.0.0.1:{}", server.port)
}

/// A user whose configuration file has a profile `local` for `server` at 127.0.0.1.
fn signed_in(server: &Server) -> User {
    let user = User::new();
    user.ok(&[
        "config",
        "setup",
        "--url",
        &by_ip(server),
        "--token",
        &server.admin_token,
        "--profile",
        "local",
    ]);
    user
}

#[test]
fn a_url_no_profile_is_for_names_the_profiles_and_how_to_use_one() {
    let server = Server::start();
    let mut user = signed_in(&server);
    // The same server under another name: the token saved for 127.0.0.1 is not sent there.
    let other = server.url.clone();
    user.env("Q8S_URL", &other);
    let o = user.run(&["app", "list"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        format!(
            "error: no profile is for {other}: a token is sent only to the URL it was saved for \
             (profiles in {}: `local` for {}) (unknown-profile) — use a profile with --profile \
             NAME and leave out --url and Q8S_URL, or sign in to this URL with `q8s-cli config \
             setup --url {other}`\n",
            user.config_path().display(),
            by_ip(&server)
        )
    );
    // The profile named, it works (the profile's URL is used).
    user.env("Q8S_URL", "");
    user.ok(&["app", "list", "--profile", "local"]);
    // A URL that is a profile's own finds that profile even when it is not the default.
    let user = signed_in(&server);
    user.ok(&[
        "config",
        "setup",
        "--url",
        &by_ip(&server),
        "--token",
        &server.admin_token,
        "--profile",
        "elsewhere",
    ]);
    let text = std::fs::read_to_string(user.config_path()).unwrap();
    let text = text.replace(
        &format!("[profiles.local]\nurl = \"{}\"", by_ip(&server)),
        "[profiles.local]\nurl = \"http://127.0.0.1:9\"",
    );
    std::fs::write(user.config_path(), text).unwrap();
    user.ok(&["app", "list", "--url", &by_ip(&server)]);
}

#[test]
fn a_url_with_the_api_path_says_which_url_to_use() {
    let server = Server::start();
    for suffix in ["/api/v1", "/api/v1/", "/api"] {
        let mut user = User::new();
        user.env("Q8S_URL", &format!("{}{suffix}", server.url))
            .env("Q8S_TOKEN", &server.admin_token);
        let o = user.run(&["app", "list"]);
        assert_eq!(o.status.code(), Some(1), "{suffix}");
        // The same with a profile for the server, which the URL is not.
        let signed_in = signed_in(&server);
        let o2 = signed_in.run(&["app", "list", "--url", &format!("{}{suffix}", server.url)]);
        assert_eq!(stderr(&o2), stderr(&o), "{suffix}");
        assert_eq!(
            stderr(&o),
            format!(
                "error: `{}{suffix}` is not a usable URL: it is the API's address, not the \
                 server's: use {} (invalid-url) — give the server's address, e.g. \
                 http://127.0.0.1:8008\n",
                server.url, server.url
            )
        );
    }
}

#[test]
fn typos_of_command_names_get_a_tip() {
    let user = User::new();
    let cases: [(&[&str], &str); 6] = [
        (
            &["bundle", "deplyo"],
            "did you mean `q8s-cli bundle deploy`?",
        ),
        (
            &["bundle", "valdate", "."],
            "did you mean `q8s-cli bundle validate`?",
        ),
        (
            &["bundle", "inspct", "x.qz"],
            "did you mean `q8s-cli bundle inspect`?",
        ),
        (&["deploy"], "did you mean `q8s-cli bundle deploy`?"),
        (&["login"], "did you mean `q8s-cli config setup`?"),
        (
            &["validate", "."],
            "did you mean `q8s-cli bundle validate`?",
        ),
    ];
    for (args, tip) in cases {
        let o = user.run(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(err.contains(tip), "{args:?}: {err}");
        assert!(!err.contains("No such file"), "{args:?}: {err}");
        assert!(stdout(&o).is_empty());
    }
    // A folder of that name is a folder: no tip, it is bundled (and has no manifest here).
    let user = User::new();
    std::fs::create_dir(user.home.path().join("deplyo")).unwrap();
    let o = user.run(&["bundle", "deplyo"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(!stderr(&o).contains("did you mean"), "{}", stderr(&o));
}

#[test]
fn instance_delete_is_terminate() {
    let server = Server::start_with(&["--runtime", "fake"]);
    let admin = server.admin();
    let app = admin.json(&["bundle", "import", hello().to_str().unwrap()]);
    let instance = admin.json(&["app", "run", app["id"].as_str().unwrap()]);
    let id = instance["id"].as_str().unwrap();
    let gone = admin.json(&["instance", "delete", id]);
    assert_eq!(gone["status"], "TERMINATED");
}

#[test]
fn ids_take_a_unique_prefix_and_unknown_ones_point_to_the_lists() {
    let server = Server::start_with(&["--runtime", "fake"]);
    let admin = server.admin();
    let app = admin.json(&["bundle", "import", hello().to_str().unwrap()]);
    let app_id = app["id"].as_str().unwrap().to_owned();
    let shown = admin.json(&["app", "get", &app_id[..8]]);
    assert_eq!(shown["id"], app_id.as_str());
    let instance = admin.json(&["app", "run", &app_id[..10]]);
    let id = instance["id"].as_str().unwrap().to_owned();
    for command in ["get", "status"] {
        let shown = admin.json(&["instance", command, &id[..8]]);
        assert_eq!(shown["id"], id.as_str(), "{command}");
    }
    // Shorter than 8 characters: refused, saying why.
    let o = admin.run(&["instance", "get", &id[..7]]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("first 8 characters at least"),
        "{}",
        stderr(&o)
    );
    // Unknown: the error points to the list.
    let unknown = "ffffffff-ffff-4fff-bfff-ffffffffffff";
    for id in [unknown, &unknown[..8]] {
        let o = admin.run(&["instance", "get", id]);
        assert_eq!(o.status.code(), Some(1));
        assert!(
            stderr(&o).contains("see `q8s-cli instance list`"),
            "{id}: {}",
            stderr(&o)
        );
        let o = admin.run(&["app", "get", id]);
        assert_eq!(o.status.code(), Some(1));
        assert!(
            stderr(&o).contains("see `q8s-cli app list`"),
            "{id}: {}",
            stderr(&o)
        );
    }
}

#[test]
fn json_errors_carry_the_text_sentence_code_and_hint() {
    let server = Server::start();
    let user = server.user("q8s_not-a-token");
    let text = user.run(&["app", "list"]);
    let json = user.run(&["app", "list", "-o", "json"]);
    assert_eq!(json.status.code(), Some(1));
    let v: Value = serde_json::from_str(&stdout(&json)).expect("JSON on stdout");
    let message = v["error"]["message"].as_str().unwrap();
    assert_eq!(stderr(&text), format!("error: {message}\n"));
    assert_eq!(v["error"]["code"], "unauthorized");
    assert!(
        v["error"]["hint"]
            .as_str()
            .unwrap()
            .contains("config setup"),
        "{v}"
    );
    // An error that is not the server's has them too.
    let o = User::new().run(&["app", "list", "--profile", "nope", "-o", "json"]);
    let v: Value = serde_json::from_str(&stdout(&o)).expect("JSON on stdout");
    assert_eq!(v["error"]["code"], "unknown-profile");
    assert_eq!(
        stderr(&o),
        format!("error: {}\n", v["error"]["message"].as_str().unwrap())
    );
}

#[test]
fn a_stdout_closed_early_ends_quietly() {
    // A real pipe whose reading end is closed before q8s-cli writes: the stdin of a process
    // that has ended (`| head` that has read enough, made certain).
    let mut reader = std::process::Command::new("true")
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let closed: std::os::fd::OwnedFd = reader.stdin.take().unwrap().into();
    reader.wait().unwrap();
    let user = User::new();
    for args in [&["completions", "bash"][..], &["bundle", "--help"][..]] {
        let mut child = user
            .command(args)
            .stdout(Stdio::from(closed.try_clone().unwrap()))
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let status = child.wait().unwrap();
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        assert!(err.is_empty(), "{args:?}: {err}");
        assert!(
            matches!(status.code(), Some(0) | Some(141)),
            "{args:?}: {status:?}"
        );
    }
}
