//! `q8s-server migrate` and `q8s-server check`, run as an operator runs them: `migrate` says
//! which migrations it applied (two runs at once on a new PostgreSQL database both succeed,
//! each migration applied once); `check` passes a good configuration and names a wrong
//! password, an unreachable port and a missing bucket, with a fix, exiting 1.

mod common;

use std::process::{Command, Output};

use common::*;
use q8s_testing::s3::{CREDENTIALS, MotoServer};

/// Runs `q8s-server <args>` on a fresh data directory (fake runtime), with the `AWS_*`
/// credentials of the test bucket; returns whether it succeeded and its stdout.
fn run(args: &[&str]) -> (bool, String, Output) {
    let data = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_q8s-server"))
        .arg("--data-dir")
        .arg(data.path())
        .args(["--runtime", "fake", "--database-timeout", "5"])
        .args(args)
        .envs(CREDENTIALS)
        .env_remove("RUST_BACKTRACE")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.success(), stdout, out)
}

fn migrate(database: &str) -> std::thread::JoinHandle<(bool, String, Output)> {
    let database = database.to_owned();
    std::thread::spawn(move || run(&["--database", &database, "migrate"]))
}

#[test]
fn two_migrate_runs_at_once_on_a_new_database_both_succeed_applying_each_migration_once() {
    let url = q8s_testing::postgres::fresh_database();
    let runs = [migrate(&url), migrate(&url)];
    let outputs: Vec<_> = runs.into_iter().map(|r| r.join().unwrap()).collect();
    let mut applied = Vec::new();
    for (ok, stdout, out) in &outputs {
        assert!(ok, "{stdout}{}", String::from_utf8_lossy(&out.stderr));
        applied.extend(
            stdout
                .lines()
                .filter_map(|l| l.strip_prefix("applied "))
                .map(str::to_owned),
        );
    }
    assert_eq!(
        applied,
        [
            "0001 init",
            "0002 placements",
            "0003 list indexes",
            "0004 asleep"
        ],
        "{outputs:?}"
    );
    assert!(
        outputs
            .iter()
            .any(|(_, stdout, _)| stdout.contains("up to date, nothing to apply")),
        "the run that waited found nothing to do: {outputs:?}"
    );
    assert!(
        !outputs
            .iter()
            .any(|(_, s, _)| s.contains("127.0.0.1:") && s.contains("@"))
    );
    // Again: nothing to apply; and a server starts on it.
    let (ok, stdout, _) = migrate(&url).join().unwrap();
    assert!(
        ok && stdout.contains("up to date, nothing to apply"),
        "{stdout}"
    );
}

#[test]
fn migrate_on_sqlite_says_what_it_applied_then_that_it_is_up_to_date() {
    let data = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", data.path().join("q8s.db").display());
    let (ok, stdout, out) = run(&["--database", &url, "migrate"]);
    assert!(ok, "{}", String::from_utf8_lossy(&out.stderr));
    let applied: Vec<_> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("applied "))
        .collect();
    assert_eq!(
        applied,
        [
            "0001 init",
            "0002 app names",
            "0003 secret access",
            "0004 token last used",
            "0005 placements",
            "0006 list indexes",
            "0007 asleep"
        ]
    );
    let (ok, stdout, _) = run(&["--database", &url, "migrate"]);
    assert!(
        ok && stdout.contains("up to date, nothing to apply"),
        "{stdout}"
    );
}

/// The line of `stdout` about `part`.
fn line<'a>(stdout: &'a str, part: &str) -> &'a str {
    stdout
        .lines()
        .find(|l| l[6..].starts_with(part))
        .unwrap_or_else(|| panic!("no line about {part}: {stdout}"))
}

#[test]
fn check_passes_a_good_configuration_and_says_what_it_reached() {
    let moto = MotoServer::start();
    let url = q8s_testing::postgres::fresh_database();
    let (ok, stdout, out) = run(&["--database", &url, "--blob-store", &moto.url(), "check"]);
    assert!(ok, "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout.lines().count(), 3, "{stdout}");
    assert!(stdout.lines().all(|l| l.starts_with("ok ")), "{stdout}");
    assert!(
        line(&stdout, "database").contains(
            "4 migration(s) pending (0001 init, 0002 placements, 0003 list indexes, 0004 \
                 asleep)"
        ),
        "{stdout}"
    );
    assert!(
        line(&stdout, "blob store").contains(
            "wrote, read back and deleted a probe object (bundles go up in one PUT each, signed \
             with their sha256)"
        ),
        "{stdout}"
    );
    // The probe is gone, and check applied nothing.
    assert_eq!(moto.keys(""), Vec::<String>::new());
    let (ok, stdout, _) = run(&["--database", &url, "check"]);
    assert!(ok, "{stdout}");
    assert!(line(&stdout, "database").contains("pending"), "{stdout}");
    // Once migrated, the schema is up to date.
    assert!(migrate(&url).join().unwrap().0);
    let (_, stdout, _) = run(&["--database", &url, "check"]);
    assert!(
        line(&stdout, "database").contains("schema up to date"),
        "{stdout}"
    );
}

#[test]
fn check_names_a_wrong_password_with_a_fix_and_exits_1() {
    let right = q8s_testing::postgres::fresh_database_with_password();
    // The rule is in force: the right password passes.
    let (ok, stdout, _) = run(&["--database", &right, "check"]);
    assert!(ok, "{stdout}");
    let wrong = right.replace(q8s_testing::postgres::PASSWORD, "wrong-password");
    let (ok, stdout, out) = run(&["--database", &wrong, "check"]);
    assert!(!ok, "{stdout}");
    assert_eq!(out.status.code(), Some(1));
    let database = line(&stdout, "database");
    assert!(database.starts_with("FAIL"), "{stdout}");
    assert!(
        database.contains("password authentication failed"),
        "{stdout}"
    );
    assert!(
        database.contains("Fix: check the user and password in --database"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("wrong-password"),
        "the password is shown: {stdout}"
    );
    // The other parts are still checked.
    assert!(line(&stdout, "blob store").starts_with("ok"), "{stdout}");
}

#[test]
fn check_names_an_unreachable_port_and_a_missing_bucket_and_exits_1() {
    let moto = MotoServer::start();
    let port = free_port(); // nobody listens there
    let database = format!("postgres://q8s:s3cret@127.0.0.1:{port}/q8s");
    let missing = moto.url().replace(&moto.bucket, "no-such-bucket");
    let (ok, stdout, out) = run(&["--database", &database, "--blob-store", &missing, "check"]);
    assert!(!ok, "{stdout}");
    assert_eq!(out.status.code(), Some(1));
    let db = line(&stdout, "database");
    assert!(db.starts_with("FAIL"), "{stdout}");
    assert!(db.contains(&format!("127.0.0.1:{port}")), "{stdout}");
    assert!(db.contains("Fix: is PostgreSQL running"), "{stdout}");
    assert!(
        !stdout.contains("s3cret"),
        "the password is shown: {stdout}"
    );
    let blobs = line(&stdout, "blob store");
    assert!(blobs.starts_with("FAIL"), "{stdout}");
    assert!(blobs.contains("no-such-bucket"), "{stdout}");
    assert!(blobs.contains("Fix: create the bucket"), "{stdout}");
    assert!(line(&stdout, "runtime").starts_with("ok"), "{stdout}");
}
