//! `token list`, `token revoke`, `config logout` and the refused-token messages, against a
//! real server.

mod common;

use common::{Server, User, block_on, golden, http, stderr, stdout};
use serde_json::{Value, json};

/// Mints a token named `name` with `token` (`POST /tokens`): its id and secret.
fn mint(server: &Server, token: &str, name: &str) -> (String, String) {
    block_on(async {
        let r = http()
            .post(format!("{}/api/v1/tokens", server.url))
            .bearer_auth(token)
            .json(&json!({ "name": name }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let created: Value = r.json().await.unwrap();
        (
            created["id"].as_str().unwrap().to_owned(),
            created["token"].as_str().unwrap().to_owned(),
        )
    })
}

/// The status `GET /me` answers `token` with.
fn me_status(server: &Server, token: &str) -> u16 {
    block_on(async {
        let r = http()
            .get(format!("{}/api/v1/me", server.url))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        r.status().as_u16()
    })
}

/// A user signed in with `config setup --token`, as profile `default`.
fn signed_in(server: &Server, token: &str) -> User {
    let user = User::new();
    user.ok(&["config", "setup", "--url", &server.url, "--token", token]);
    user
}

fn config_text(user: &User) -> String {
    std::fs::read_to_string(user.config_path()).unwrap()
}

#[test]
fn tokens_are_listed_and_revoked_by_name_or_id() {
    let server = Server::start();
    let (_, alice) = server.new_user("alice", false);
    let user = signed_in(&server, &alice);
    let (first_ci, first_secret) = mint(&server, &alice, "ci");
    let (second_ci, _) = mint(&server, &alice, "ci");

    let text = user.ok(&["token", "list"]);
    golden("token_list.txt", &text);
    for secret in [&alice, &first_secret] {
        assert!(!text.contains(secret.as_str()), "{text}");
    }
    let listed = user.json(&["token", "list"]);
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 3);
    assert_eq!(listed[0]["current"], true, "{listed:?}");
    assert!(
        listed[0]["last_used_at"].is_string(),
        "used by this very command"
    );
    assert_eq!(listed[1]["last_used_at"], Value::Null);
    assert!(listed.iter().all(|t| t.get("token").is_none()));

    // A name two tokens share is no way to pick one.
    let o = user.run(&["token", "revoke", "ci"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        format!(
            "error: 2 of your tokens are named `ci`: revoke one by id ({first_ci}, {second_ci})\n"
        )
    );
    assert_eq!(
        user.ok(&["token", "revoke", &first_ci]),
        format!("Revoked token {first_ci} (ci)\n")
    );
    assert_eq!(me_status(&server, &first_secret), 401);
    let revoked = user.json(&["token", "revoke", "ci"]);
    assert_eq!(
        revoked,
        json!({"id": second_ci, "name": "ci", "revoked": true})
    );
    let o = user.run(&["token", "revoke", "ci"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "error: you have no token named `ci` (not-found) — see `q8s-cli token list`\n"
    );
    // Another user's token, by id: as unknown as one that never existed.
    let (others_id, _) = mint(&server, &server.admin_token, "admin's");
    let o = user.run(&["token", "revoke", &others_id]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("(not-found)"), "{}", stderr(&o));
    // Admins see everyone's with -a; others may not.
    let o = user.run(&["token", "list", "-a"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("(forbidden)"), "{}", stderr(&o));
    let everyone = server.admin().json(&["token", "list", "-a"]);
    let owners: Vec<&str> = everyone
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["owner"].as_str().unwrap())
        .collect();
    assert_eq!(owners, ["admin", "alice", "admin"]);
}

#[test]
fn config_setup_keeps_the_tokens_id_and_logout_revokes_and_forgets_it() {
    let server = Server::start();
    let (_, alice) = server.new_user("alice", false);
    let (laptop_id, laptop) = mint(&server, &alice, "laptop");
    let user = signed_in(&server, &laptop);
    assert_eq!(
        config_text(&user),
        format!(
            "default = \"default\"\n\n[profiles.default]\nurl = \"{}\"\ntoken = \"{laptop}\"\n\
             token_id = \"{laptop_id}\"\n",
            server.url
        )
    );

    let out = user.ok(&["config", "logout"]);
    assert_eq!(
        out,
        format!(
            "Revoked the token of profile `default` on {}.\nForgot it in {} (the URL stays: \
             `q8s-cli config setup` signs in again).\n",
            server.url,
            user.config_path().display()
        )
    );
    assert_eq!(me_status(&server, &laptop), 401, "revoked on the server");
    assert_eq!(
        me_status(&server, &alice),
        200,
        "the user's other tokens stay"
    );
    assert_eq!(
        config_text(&user),
        format!(
            "default = \"default\"\n\n[profiles.default]\nurl = \"{}\"\n",
            server.url
        )
    );
    assert_eq!(
        user.ok(&["config", "logout"]),
        "Profile `default` holds no token: nothing to sign out of.\n"
    );
}

#[test]
fn logout_forgets_a_token_the_server_refuses_or_cannot_be_asked_about() {
    let server = Server::start();
    // Revoked already (from another machine): forgotten here, and said so.
    let (id, token) = mint(&server, &server.admin_token, "old laptop");
    let user = signed_in(&server, &token);
    server.admin().ok(&["token", "revoke", &id]);
    let out = user.ok(&["config", "logout"]);
    assert!(
        out.starts_with(&format!(
            "The token of profile `default` was already revoked on {} (or is unknown there).\n",
            server.url
        )),
        "{out}"
    );
    assert!(
        !config_text(&user).contains("token"),
        "{}",
        config_text(&user)
    );

    // A profile from before ids were kept: the server's list tells which token it is.
    let (_, token) = mint(&server, &server.admin_token, "no id");
    let old = User::new();
    let file = format!(
        "[profiles.default]\nurl = \"{}\"\ntoken = \"{token}\"\n",
        server.url
    );
    std::fs::write(old.config_path(), file).unwrap();
    assert!(
        old.ok(&["config", "logout"])
            .starts_with("Revoked the token")
    );
    assert_eq!(me_status(&server, &token), 401);

    // Nobody answers at the profile's URL: forgotten all the same, with a warning.
    let gone = User::new();
    let port = q8s_testing::free_port();
    let file = format!(
        "default = \"prod\"\n[profiles.prod]\nurl = \"http://127.0.0.1:{port}\"\n\
         token = \"q8s_unreachable\"\ntoken_id = \"0b6c2b1e-0d5f-4a57-9d43-2f0e8a1c5b7d\"\n"
    );
    std::fs::write(gone.config_path(), file).unwrap();
    let o = gone.run(&["config", "logout", "-o", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let answer: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(
        (&answer["profile"], &answer["revoked"], &answer["forgotten"]),
        (&json!("prod"), &json!(false), &json!(true))
    );
    assert!(
        answer["note"].as_str().unwrap().contains("(unreachable)"),
        "{answer}"
    );
    let o = gone.run(&["config", "logout"]);
    assert_eq!(
        stdout(&o),
        "Profile `prod` holds no token: nothing to sign out of.\n"
    );
    assert_eq!(
        config_text(&gone),
        format!("default = \"prod\"\n[profiles.prod]\nurl = \"http://127.0.0.1:{port}\"\n")
    );
    let text_user = User::new();
    let file =
        format!("[profiles.default]\nurl = \"http://127.0.0.1:{port}\"\ntoken = \"q8s_x\"\n");
    std::fs::write(text_user.config_path(), file).unwrap();
    let o = text_user.run(&["config", "logout"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(
        stderr(&o).starts_with(&format!(
            "warning: the token of profile `default` was NOT revoked on http://127.0.0.1:{port}: \
             cannot reach q8s"
        )),
        "{}",
        stderr(&o)
    );
    assert!(stdout(&o).starts_with("Forgot it in "), "{}", stdout(&o));
}

#[test]
fn a_refused_token_is_called_refused() {
    let server = Server::start();
    let (id, token) = mint(&server, &server.admin_token, "gone");
    server.admin().ok(&["token", "revoke", &id]);
    // Sent with a command: the token was refused, not missing.
    let o = server.user(&token).run(&["app", "list"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "error: the API token sent was refused: it was revoked, or it is not a token of this \
         server (unauthorized) — run `q8s-cli config setup` to sign in again (or set Q8S_TOKEN)\n"
    );
    // Given to `config setup --token`: that token is the problem, and nothing is saved.
    let user = User::new();
    let o = user.run(&["config", "setup", "--url", &server.url, "--token", &token]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        format!(
            "error: the token given with --token was refused by {url}: it was revoked, or it is \
             not a token of this server (unauthorized) — sign in without --token (`q8s-cli \
             config setup --url {url}`) to get a new one\n",
            url = server.url
        )
    );
    let o = user.run(&[
        "config",
        "setup",
        "--url",
        &server.url,
        "--token",
        &token,
        "-o",
        "json",
    ]);
    let answer: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(answer["error"]["code"], "unauthorized");
    assert_eq!(
        answer["error"]["hint"],
        format!(
            "sign in without --token (`q8s-cli config setup --url {}`) to get a new one",
            server.url
        )
    );
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("sign in without --token"),
        "{answer}"
    );
    assert!(!user.config_path().exists());
    // No token at all: not signed in.
    let o = User::new().run(&["app", "list", "--url", &server.url]);
    assert!(
        stderr(&o).starts_with("error: not signed in: the request has no API token"),
        "{}",
        stderr(&o)
    );
}
