//! App Names from the command line, against a real server: another user's import under a Name
//! fails with the server's code and what to do, and `admin app transfer` gives the Name away.

mod common;

use common::{Server, hello, stderr, stdout};

#[test]
fn a_taken_name_is_refused_until_an_admin_transfers_it() {
    let server = Server::start();
    let admin = server.admin();
    let (_, alice_token) = server.new_user("alice", false);
    let (_, bob_token) = server.new_user("bob", false);
    let (alice, bob) = (server.user(&alice_token), server.user(&bob_token));
    let hello = hello().display().to_string();
    alice.ok(&["bundle", "import", &hello]);

    let o = bob.run(&["bundle", "import", &hello]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "error: the app name ai.h2o.q8s.hello belongs to another user (app-name-taken) — \
         choose another Name in q-app.toml, or ask an admin to run \
         `q8s-cli admin app transfer NAME USER`\n"
    );

    let o = bob.run(&["admin", "app", "transfer", "ai.h2o.q8s.hello", "bob"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("(forbidden)"), "{}", stderr(&o));
    let o = admin.run(&["admin", "app", "transfer", "ai.h2o.q8s.hello", "nobody"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("(unknown-user)"), "{}", stderr(&o));

    let o = admin.run(&["admin", "app", "transfer", "ai.h2o.q8s.hello", "bob"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "App name ai.h2o.q8s.hello now belongs to bob\n");
    assert_eq!(
        admin.json(&["admin", "app", "transfer", "ai.h2o.q8s.hello", "bob"]),
        serde_json::json!({"name": "ai.h2o.q8s.hello", "owner": "bob"})
    );
    // Bob owns the Name now; Alice's 0.1.0 is still there, so his own import of it is a
    // duplicate version, and Alice's next one is refused.
    let o = bob.run(&["bundle", "import", &hello]);
    assert!(
        stderr(&o).contains("(app-version-exists)"),
        "{}",
        stderr(&o)
    );
    let o = alice.run(&["bundle", "import", &hello]);
    assert!(stderr(&o).contains("(app-name-taken)"), "{}", stderr(&o));
}
