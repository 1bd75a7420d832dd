//! The offline commands as a user runs them: `bundle`, `bundle validate`,
//! `bundle inspect`, with their exit codes and output formats.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn cli(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_q8s-cli"))
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .output()
        .expect("q8s-cli runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn hello() -> String {
    repo_root().join("examples/hello").display().to_string()
}

#[test]
fn bundle_writes_name_version_qz_and_prints_summary() {
    let out = tempfile::tempdir().unwrap();
    let o = cli(
        &["bundle", &hello(), "-o", out.path().to_str().unwrap()],
        out.path(),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    let qz = out.path().join("ai.h2o.q8s.hello.0.1.0.qz");
    assert!(qz.is_file());
    assert!(
        text.contains(&format!("Path     {}", qz.display())),
        "{text}"
    );
    let sha = text
        .lines()
        .find_map(|l| l.strip_prefix("SHA256   "))
        .unwrap();
    assert_eq!(sha.len(), 64);
    assert!(
        stderr(&o).is_empty(),
        "hello has no warnings: {}",
        stderr(&o)
    );
}

#[test]
fn bundle_defaults_to_the_current_folder_and_json() {
    let out = tempfile::tempdir().unwrap();
    let app = out.path().join("app");
    fs::create_dir(&app).unwrap();
    fs::write(
        app.join("q-app.toml"),
        "[App]\nName = \"a\"\nVersion = \"1.0.0\"\n[Runtime]\nModule = \"main\"\n",
    )
    .unwrap();
    fs::write(app.join("main.py"), "print(1)\n").unwrap();
    let o = cli(&["bundle", "-o", "json"], &app);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("stdout is only JSON");
    assert_eq!(v["name"], "a");
    assert_eq!(v["version"], "1.0.0");
    assert_eq!(v["files"], serde_json::json!(["main.py", "q-app.toml"]));
    let codes: Vec<&str> = v["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        ["requirements-missing", "icon-missing"],
        "sorted by path"
    );
    assert!(app.join("a.1.0.0.qz").is_file());
    // A second bundle leaves the first one out (*.qz in the root).
    let o = cli(&["bundle", "--explain"], &app);
    assert_eq!(o.status.code(), Some(0));
    assert!(
        stdout(&o).contains("excluded  a.1.0.0.qz"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn invalid_manifest_exits_1_with_every_error_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("q-app.toml"),
        "[App]\nName = \"bad name!\"\nVersion = \"0.1\"\n[Runtime]\nModule = \"main\"\n",
    )
    .unwrap();
    fs::write(dir.path().join("main.py"), "").unwrap();
    let o = cli(&["bundle"], dir.path());
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("error[invalid-version]"), "{err}");
    assert!(err.contains("--> q-app.toml:3:"), "{err}");
    assert!(err.contains("q-app.toml:2:"), "{err}");
    assert!(!err.contains('\x1b'), "no colour when not a terminal");
    assert_eq!(
        fs::read_dir(dir.path()).unwrap().count(),
        2,
        "nothing written"
    );

    let o = cli(&["bundle", "validate", "-o", "json"], dir.path());
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["valid"], false);
    assert!(v["diagnostics"].as_array().unwrap().len() >= 2);
}

#[test]
fn output_folder_is_created_when_named_with_a_slash() {
    let out = tempfile::tempdir().unwrap();
    let dist = out.path().join("new/dist/");
    let o = cli(
        &["bundle", &hello(), "-o", dist.to_str().unwrap()],
        out.path(),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(dist.join("ai.h2o.q8s.hello.0.1.0.qz").is_file());
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(
        cli(&["bundle", "--no-such-flag"], dir.path()).status.code(),
        Some(2)
    );
    assert_eq!(
        cli(&["bundle", "validate", "-o", "yaml"], dir.path())
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        cli(&["bundle", "inspect"], dir.path()).status.code(),
        Some(2)
    );
}

#[test]
fn validate_and_inspect_a_bundle() {
    let out = tempfile::tempdir().unwrap();
    let o = cli(
        &["bundle", &hello(), "-o", out.path().to_str().unwrap()],
        out.path(),
    );
    assert_eq!(o.status.code(), Some(0));
    let qz = out.path().join("ai.h2o.q8s.hello.0.1.0.qz");
    let qz = qz.to_str().unwrap();

    let o = cli(&["bundle", "validate", qz], out.path());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("ai.h2o.q8s.hello 0.1.0: valid"));

    let o = cli(&["bundle", "inspect", qz], out.path());
    assert_eq!(o.status.code(), Some(0));
    let text = stdout(&o);
    assert!(text.contains("Name         ai.h2o.q8s.hello"), "{text}");
    assert!(text.contains("q-app.toml"));
    assert!(text.contains("static/icon.png"));

    let o = cli(&["bundle", "inspect", qz, "-o", "json"], out.path());
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["valid"], true);
    assert_eq!(v["manifest"]["app"]["name"], "ai.h2o.q8s.hello");
    assert!(
        v["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["name"] == "q-app.toml")
    );
    assert_eq!(v["sha256"].as_str().unwrap().len(), 64);
}

#[test]
fn hostile_archive_is_rejected_by_inspect() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("evil.qz");
    fs::write(&path, b"PK\x03\x04 definitely not a zip").unwrap();
    let o = cli(&["bundle", "inspect", path.to_str().unwrap()], dir.path());
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("error["), "{}", stderr(&o));
}

#[test]
fn validate_a_manifest_file_directly() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("q-app.toml");
    fs::write(&p, "[App]\nName = \"ok\"\nVersion = \"1.2.3\"\nCategory = \"Helthcare\"\n[Runtime]\nModule = \"m\"\n").unwrap();
    let o = cli(&["bundle", "validate", p.to_str().unwrap()], dir.path());
    assert_eq!(
        o.status.code(),
        Some(0),
        "warnings do not fail: {}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("warning[unknown-category]"));
    assert!(
        stderr(&o).contains("Healthcare"),
        "suggests the closest category"
    );
}
