//! `q8s-server migrate`, run as an operator runs it: it says which migrations it applied (two
//! runs at once on a new PostgreSQL database both succeed, each migration applied once).

mod common;

use std::process::{Command, Output};

use q8s_testing::s3::CREDENTIALS;

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
    assert_eq!(applied, ["0001 init"], "{outputs:?}");
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
            "0004 token last used"
        ]
    );
    let (ok, stdout, _) = run(&["--database", &url, "migrate"]);
    assert!(
        ok && stdout.contains("up to date, nothing to apply"),
        "{stdout}"
    );
}
