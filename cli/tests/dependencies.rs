//! The crates' dependency rules (docs/development.md, "Layout"), checked with `cargo tree` and
//! on the manifests: the CLI never builds the server or its storage, core depends on nothing
//! of ours and no I/O client, runtime and client depend on core only, and a dependency of two
//! crates is declared once, in `[workspace.dependencies]`.

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

/// Every dependency table of a manifest: `[dependencies]`, `[dev-dependencies]`,
/// `[build-dependencies]` and their `[target.'…'.*]` forms.
fn dependency_tables(manifest: &toml::Table) -> Vec<&toml::Table> {
    let kinds = ["dependencies", "dev-dependencies", "build-dependencies"];
    let direct = kinds.iter().filter_map(|k| manifest.get(*k));
    let targets = manifest
        .get("target")
        .and_then(toml::Value::as_table)
        .into_iter()
        .flat_map(|targets| targets.values())
        .filter_map(toml::Value::as_table)
        .flat_map(|target| kinds.iter().filter_map(|k| target.get(*k)));
    direct
        .chain(targets)
        .filter_map(toml::Value::as_table)
        .collect()
}

#[test]
fn a_dependency_of_two_crates_comes_from_the_workspace() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let read = |path: std::path::PathBuf| -> toml::Table {
        toml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
    };
    let workspace = read(root.join("Cargo.toml"));
    let members = workspace["workspace"]["members"].as_array().unwrap();
    // name → (crate, whether it says `workspace = true`)
    let mut uses: std::collections::BTreeMap<String, Vec<(String, bool)>> = Default::default();
    for member in members {
        let member = member.as_str().unwrap();
        let manifest = read(root.join(member).join("Cargo.toml"));
        for table in dependency_tables(&manifest) {
            for (name, spec) in table {
                let shared = spec.get("workspace").and_then(toml::Value::as_bool) == Some(true);
                uses.entry(name.clone())
                    .or_default()
                    .push((member.to_owned(), shared));
            }
        }
    }
    let crates_of = |users: &[(String, bool)]| {
        users
            .iter()
            .map(|(c, _)| c.as_str())
            .collect::<BTreeSet<_>>()
            .len()
    };
    let stray: Vec<String> = uses
        .iter()
        .filter(|(_, users)| crates_of(users) > 1)
        .flat_map(|(name, users)| {
            users
                .iter()
                .filter(|(_, shared)| !shared)
                .map(move |(member, _)| format!("{name} in {member}/Cargo.toml"))
        })
        .collect();
    assert!(
        stray.is_empty(),
        "shared dependencies not from [workspace.dependencies]: {stray:?}"
    );
}
