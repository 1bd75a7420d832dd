//! The crates' dependency rules (docs/development.md, "Crates"), checked on the lock file with
//! `cargo tree`: the CLI never builds the server or its storage, core depends on nothing of
//! ours and no I/O client, runtime and client depend on core only.

use std::collections::BTreeSet;
use std::process::Command;

/// The crate names (without versions) in the normal dependency tree of `package`.
fn tree(package: &str, target: Option<&str>) -> BTreeSet<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = Command::new(cargo);
    command
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "tree",
            "--offline",
            "-e",
            "normal",
            "--prefix",
            "none",
            "-p",
        ])
        .arg(package);
    if let Some(target) = target {
        command.args(["--target", target]);
    }
    let output = command.output().expect("running cargo tree");
    assert!(
        output.status.success(),
        "cargo tree -p {package}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

/// Ours among `crates`, apart from `package` itself.
fn ours(crates: &BTreeSet<String>, package: &str) -> Vec<String> {
    crates
        .iter()
        .filter(|c| c.starts_with("q8s-") && *c != package)
        .cloned()
        .collect()
}

#[test]
fn the_cli_builds_neither_the_server_nor_its_storage() {
    let crates = tree("q8s-cli", None);
    for server_only in ["q8s-server", "sqlx", "argon2", "utoipa", "object_store"] {
        assert!(
            !crates.contains(server_only),
            "q8s-cli depends on {server_only}"
        );
    }
    assert_eq!(
        ours(&crates, "q8s-cli"),
        ["q8s-client", "q8s-core", "q8s-runtime"]
    );
}

#[test]
fn core_has_no_io_clients_and_nothing_of_ours() {
    for target in [None, Some("wasm32-unknown-unknown")] {
        let crates = tree("q8s-core", target);
        for client_only in ["reqwest", "tokio", "hyper", "q8s-client", "q8s-runtime"] {
            assert!(
                !crates.contains(client_only),
                "q8s-core ({target:?}) depends on {client_only}"
            );
        }
        assert_eq!(ours(&crates, "q8s-core"), Vec::<String>::new());
    }
}

#[test]
fn runtime_and_client_depend_on_core_only() {
    for package in ["q8s-runtime", "q8s-client"] {
        assert_eq!(
            ours(&tree(package, None), package),
            ["q8s-core"],
            "{package}"
        );
    }
}
