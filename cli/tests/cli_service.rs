//! The service commands against a real `q8s-server`: apps, instances, secrets, users, their
//! human formats (golden files under `tests/golden/`, ids and times normalised), their JSON
//! (the server's own JSON, field for field), and the errors people see.

mod common;

use std::time::Duration;

use common::{Server, User, eventually, golden, hello, normalize, stderr, stdout};
use serde_json::Value;

#[test]
fn normalize_hides_what_changes() {
    let text = "ID   0b5c8c3e-3f5e-4f0e-9a53-4c1f3f3b8a01  Hello 0.1.0-20261128082646  12m\n\
                At   2026-11-28 08:26:37.912 +0000 UTC\n\
                URL  http://0b5c8c3e-3f5e-4f0e-9a53-4c1f3f3b8a01.localhost:18008/\n";
    assert_eq!(
        normalize(text),
        "ID <id> Hello 0.1.0-<stamp> <age>\nAt <date> <time> +0000 UTC\nURL http://<id>.localhost:<port>/\n"
    );
}

#[test]
fn an_unreachable_server_is_named_with_how_to_configure_it() {
    let mut user = User::new();
    let url = format!("http://127.0.0.1:{}", common::free_port());
    user.env("Q8S_URL", &url).env("Q8S_TOKEN", "q8s_x");
    let o = user.run(&["app", "list"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).is_empty());
    assert_eq!(
        stderr(&o),
        format!(
            "error: cannot reach q8s at {url} (connection refused) (unreachable) — check that q8s runs there, \
             or set its URL with `q8s-cli config setup --url URL`, --url or Q8S_URL\n"
        )
    );
    let o = user.run(&["instance", "list", "-o", "json"]);
    assert_eq!(o.status.code(), Some(1));
    let v: Value = serde_json::from_str(&stdout(&o)).expect("JSON on stdout");
    assert_eq!(v["error"]["code"], "unreachable");
}

#[test]
fn a_refused_token_says_to_sign_in_again() {
    let server = Server::start();
    let o = server.user("q8s_not-a-token").run(&["app", "list"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "error: the API token sent was refused: it was revoked, or it is not a token of this \
         server (unauthorized) — run `q8s-cli config setup` to sign in again (or set Q8S_TOKEN)\n"
    );
}

#[test]
fn config_profiles_and_precedence() {
    let server = Server::start();
    let user = User::new();
    // --token stores a token as is, after checking it.
    let out = user.ok(&[
        "config",
        "setup",
        "--url",
        &server.url,
        "--token",
        &server.admin_token,
        "--profile",
        "local",
    ]);
    assert_eq!(
        out,
        format!(
            "Signed in to {} as admin (admin).\nSaved as profile `local` in {}.\n",
            server.url,
            user.config_path().display()
        )
    );
    let text = std::fs::read_to_string(user.config_path()).unwrap();
    assert_eq!(
        text,
        format!(
            "default = \"local\"\n\n[profiles.local]\nurl = \"{}\"\ntoken = \"{}\"\ntoken_id = \"{}\"\n",
            server.url,
            server.admin_token,
            server.api_json("/tokens")[0]["id"].as_str().unwrap()
        )
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(user.config_path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // The file alone is enough now.
    assert_eq!(user.json(&["app", "list"]), Value::Array(vec![]));
    // A profile that does not exist is an error when named…
    let o = user.run(&["app", "list", "--profile", "prod"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("there is no profile `prod`"),
        "{}",
        stderr(&o)
    );
    // …and flags beat the environment, which beats the file.
    let mut env_user = User::new();
    std::fs::copy(user.config_path(), env_user.config_path()).unwrap();
    env_user.env("Q8S_TOKEN", "q8s_wrong");
    assert_eq!(env_user.run(&["app", "list"]).status.code(), Some(1));
    env_user.ok(&["app", "list", "--token", &server.admin_token]);
    // A refused token is not saved.
    let o = User::new().run(&[
        "config",
        "setup",
        "--url",
        &server.url,
        "--token",
        "q8s_bad",
    ]);
    assert_eq!(o.status.code(), Some(1));
}

/// Waits until the instance is RUNNING (its environment is built by the server with uv).
fn wait_running(user: &User, id: &str) {
    eventually(Duration::from_secs(180), "the instance to run", || {
        let status = user.ok(&["instance", "status", id]);
        assert!(
            !matches!(status.trim(), "FAILED" | "TERMINATED"),
            "{status}"
        );
        (status.trim() == "RUNNING").then_some(())
    });
}

#[test]
fn apps_and_instances_session() {
    let server = Server::start();
    let admin = server.admin();
    let (_, alice_token) = server.new_user("alice", false);
    let alice = server.user(&alice_token);
    let hello = hello().display().to_string();

    golden("app_list_empty.txt", &admin.ok(&["app", "list"]));
    let imported = admin.ok(&["bundle", "import", &hello, "-v", "ALL_USERS"]);
    golden("bundle_import.txt", &imported);

    // The same version again: one sentence with the code and what to do.
    let o = admin.run(&["bundle", "import", &hello]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "error: app ai.h2o.q8s.hello 0.1.0 already exists (app-version-exists) — bump Version in q-app.toml\n"
    );

    let apps = admin.json(&["app", "list"]);
    let id = apps[0]["id"].as_str().unwrap().to_owned();
    // -o json is the server's JSON, field for field.
    assert_eq!(apps, server.api_json("/apps?scope=mine"));
    assert_eq!(
        admin.json(&["app", "get", &id]),
        server.api_json(&format!("/apps/{id}"))
    );

    golden("app_list.txt", &admin.ok(&["app", "list"]));
    golden("app_get.txt", &admin.ok(&["app", "get", &id]));
    // Alice sees the shared app with -a only; once private, not at all.
    assert_eq!(alice.json(&["app", "list"]), Value::Array(vec![]));
    golden("app_list_all_alice.txt", &alice.ok(&["app", "list", "-a"]));
    golden(
        "app_update.txt",
        &admin.ok(&["app", "update", &id, "-v", "PRIVATE"]),
    );
    assert_eq!(alice.json(&["app", "list", "-a"]), Value::Array(vec![]));
    let o = alice.run(&["app", "get", &id]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "error: app not found (not-found) — see `q8s-cli app list` for the ids\n"
    );

    let launched = admin.ok(&["app", "run", &id]);
    golden("app_run.txt", &launched);
    let instance = launched
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_owned();
    wait_running(&admin, &instance);
    golden("instance_list.txt", &admin.ok(&["instance", "list"]));
    golden(
        "instance_get.txt",
        &admin.ok(&["instance", "get", &instance]),
    );
    assert_eq!(
        admin.json(&["instance", "get", &instance]),
        server.api_json(&format!("/instances/{instance}"))
    );
    assert_eq!(
        admin.json(&["instance", "status", &instance])["status"],
        "RUNNING"
    );

    // Deleting an app with a running instance is refused, clearly.
    let o = admin.run(&["app", "delete", &id]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "error: the app has instances that are not terminated (app-has-instances) — \
         terminate its instances first (see `q8s-cli instance list`)\n"
    );

    // Alice cannot see the private instance; shared, she can.
    assert_eq!(
        alice.json(&["instance", "list", "-a"]),
        Value::Array(vec![])
    );
    let shared = admin.json(&["instance", "update", &instance, "-v", "ALL_USERS"]);
    assert_eq!(shared["visibility"], "ALL_USERS");
    assert_eq!(
        alice.json(&["instance", "list", "-a"])[0]["id"],
        instance.as_str()
    );
    let o = alice.run(&["instance", "terminate", &instance]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "only the owner or an admin may terminate"
    );
    assert!(stderr(&o).contains("(forbidden)"), "{}", stderr(&o));

    golden(
        "instance_suspend.txt",
        &admin.ok(&["instance", "suspend", &instance]),
    );
    assert_eq!(admin.ok(&["instance", "status", &instance]), "SUSPENDED\n");
    admin.ok(&["instance", "resume", &instance]);
    wait_running(&admin, &instance);
    golden(
        "instance_terminate.txt",
        &admin.ok(&["instance", "terminate", &instance]),
    );
    let o = admin.run(&["instance", "resume", &instance]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "error: the instance was terminated (instance-terminated) — launch a new instance with `q8s-cli app run`\n"
    );

    assert_eq!(
        admin.ok(&["app", "delete", &id]),
        format!("Deleted app {id}\n")
    );
    assert_eq!(
        admin.json(&["app", "list", "-a"]),
        Value::Array(vec![]),
        "deleted"
    );
}

#[test]
fn secrets_and_users() {
    let server = Server::start();
    let admin = server.admin();
    let value_file = admin.home.path().join("value.txt");
    std::fs::write(&value_file, "from a file").unwrap();
    let set = admin.ok(&[
        "admin",
        "secret",
        "set",
        "hello-secrets",
        "greeting=Hi there",
        "--from-file",
        &format!("token={}", value_file.display()),
        "--all-users",
    ]);
    golden("admin_secret_set.txt", &set);
    assert!(
        !set.contains("Hi there") && !set.contains("from a file"),
        "values never shown"
    );

    let (_, bob_token) = server.new_user("bob", false);
    let bob = server.user(&bob_token);
    golden("secret_list.txt", &bob.ok(&["secret", "list"]));
    assert_eq!(
        bob.json(&["secret", "list"]),
        serde_json::json!([{"name": "hello-secrets", "keys": ["greeting", "token"]}])
    );
    let o = bob.run(&["admin", "secret", "delete", "hello-secrets"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("(forbidden)"), "{}", stderr(&o));

    // Kept for one app of the admins: Bob no longer sees it, and his app that names it cannot
    // start; the sentence says what to do.
    let access = admin.ok(&[
        "admin",
        "secret",
        "access",
        "hello-secrets",
        "--admins-only",
        "--apps",
        "ai.h2o.q8s.hello,ai.h2o.q8s.greeter",
    ]);
    golden("admin_secret_access.txt", &access);
    golden("secret_list_admin.txt", &admin.ok(&["secret", "list"]));
    assert_eq!(
        admin.json(&["secret", "list"])[0]["access"],
        serde_json::json!({"users": [], "apps": ["ai.h2o.q8s.greeter", "ai.h2o.q8s.hello"]})
    );
    assert_eq!(bob.json(&["secret", "list"]), serde_json::json!([]));
    let app_dir = bob.home.path().join("greeter");
    std::fs::create_dir(&app_dir).unwrap();
    std::fs::write(
        app_dir.join("q-app.toml"),
        "[App]\nName = \"ai.h2o.q8s.greeter\"\nVersion = \"0.1.0\"\n\n[Runtime]\nModule = \"greeter\"\n\n\
         [[Env]]\nName = \"GREETING\"\nSecret = \"hello-secrets\"\nSecretKey = \"greeting\"\n",
    )
    .unwrap();
    std::fs::write(app_dir.join("greeter.py"), "print('hi')\n").unwrap();
    let imported = bob.json(&["bundle", "import", &app_dir.display().to_string()]);
    let app_id = imported["id"].as_str().unwrap().to_owned();
    let o = bob.run(&["app", "run", &app_id]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "error: bob may not use secret `hello-secrets` in app ai.h2o.q8s.greeter (secret-forbidden) — \
         an admin can allow it with `q8s-cli admin secret access NAME --users USER` (and `--apps APP` if it is kept for other apps)\n"
    );
    let o = bob.run(&["app", "run", &app_id, "-o", "json"]);
    let v: Value = serde_json::from_str(&stdout(&o)).expect("JSON on stdout");
    assert_eq!(v["error"]["code"], "secret-forbidden");
    assert_eq!(
        v["error"]["details"],
        serde_json::json!([{"secret": "hello-secrets"}])
    );
    admin.ok(&[
        "admin",
        "secret",
        "access",
        "hello-secrets",
        "--users",
        "bob",
    ]);
    assert_eq!(
        bob.json(&["secret", "list"]),
        serde_json::json!([{"name": "hello-secrets", "keys": ["greeting", "token"]}])
    );
    let o = admin.run(&["admin", "secret", "access", "hello-secrets"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("say who may use it"), "{}", stderr(&o));
    let o = admin.run(&[
        "admin",
        "secret",
        "access",
        "hello-secrets",
        "--users",
        "bob",
        "--all-users",
    ]);
    assert_eq!(o.status.code(), Some(2), "usage error: {}", stderr(&o));
    let o = admin.run(&[
        "admin",
        "secret",
        "access",
        "hello-secrets",
        "--users",
        "nobody",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("(invalid-secret-access)"),
        "{}",
        stderr(&o)
    );

    let deleted = admin.json(&["admin", "secret", "delete", "hello-secrets"]);
    assert_eq!(
        deleted,
        serde_json::json!({"name": "hello-secrets", "deleted": true})
    );
    let o = admin.run(&["admin", "secret", "delete", "hello-secrets"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stderr(&o), "error: secret not found (not-found)\n");
    let o = admin.run(&["admin", "secret", "set", "x", "novalue"]);
    assert_eq!(o.status.code(), Some(2), "usage error: {}", stderr(&o));

    let o = admin.run(&["admin", "user", "add", "carol", "--admin"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    let password = text
        .lines()
        .find_map(|l| l.strip_prefix("Password "))
        .unwrap()
        .trim();
    assert!(password.len() >= 16, "{text}");
    golden("admin_user_add.txt", &text.replace(password, "<password>"));
    assert!(stderr(&o).contains("shown once"));
    let o = admin.run(&["admin", "user", "add", "carol"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("(user-exists)"), "{}", stderr(&o));
}

#[test]
fn completions_cover_every_command() {
    let user = User::new();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = user.ok(&["completions", shell]);
        for word in [
            "config",
            "bundle",
            "deploy",
            "instance",
            "terminate",
            "admin",
            "exec",
        ] {
            assert!(out.contains(word), "{shell} completions lack {word}");
        }
    }
    assert_eq!(user.run(&["completions", "tcsh"]).status.code(), Some(2));
}
