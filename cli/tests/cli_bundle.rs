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

/// Writes an app of one module, `main.py` (`source`), with `manifest` as its q-app.toml.
fn write_app(dir: &Path, manifest: &str, source: &str) {
    fs::write(dir.join("q-app.toml"), manifest).unwrap();
    fs::write(dir.join("main.py"), source).unwrap();
}

/// A valid manifest of the app `a`, module `main`.
const MANIFEST_A: &str = "[App]\nName = \"a\"\nVersion = \"1.0.0\"\n[Runtime]\nModule = \"main\"\n";

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
    write_app(&app, MANIFEST_A, "print(1)\n");
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
    let manifest = "[App]\nName = \"bad name!\"\nVersion = \"0.1\"\n[Runtime]\nModule = \"main\"\n";
    write_app(dir.path(), manifest, "");
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
    // `-o PATH` is for `bundle [DIR]` alone; the other commands take text or json.
    for args in [
        &["bundle", "validate", "-o", "dist/"][..],
        &["app", "list", "-o", "out.json"],
        &["exec", "-o", "json"],
    ] {
        let o = cli(args, dir.path());
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
    }
}

#[test]
fn output_is_one_global_flag_before_or_after_the_command() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["-o", "json", "bundle", "validate", &hello()][..],
        &["bundle", "validate", &hello(), "--output", "json"],
        &["bundle", "validate", "-o", "json", &hello()],
    ] {
        let o = cli(args, dir.path());
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
        let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("only JSON");
        assert_eq!(v["valid"], true, "{args:?}");
    }
    // Before the command, a PATH still tells `bundle` where to write.
    let o = cli(&["-o", "dist/", "bundle", &hello()], dir.path());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(dir.path().join("dist/ai.h2o.q8s.hello.0.1.0.qz").is_file());
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
    // The one inspect report of core, as the page and Python give it.
    assert_eq!(v["size"], std::fs::metadata(qz).unwrap().len());
    assert_eq!(v["manifest_file"], "q-app.toml");
    assert_eq!(v["icon"], "static/icon.png");
    assert_eq!(v["path"], qz);
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

/// The H2O AI Cloud test app (`tests/apps/cloud-app`): `app.toml` is the
/// manifest, notes say so, and `.appignore` keeps scratch work out.
#[test]
fn an_h2o_ai_cloud_app_validates_with_notes_and_bundles_its_app_toml() {
    let app = repo_root().join("tests/apps/cloud-app");
    for scratch in ["notebooks/eda.ipynb", "scratch.csv"] {
        assert!(app.join(scratch).is_file(), "fixture {scratch} is there");
    }
    let dir = tempfile::tempdir().unwrap();
    let o = cli(&["bundle", "validate", app.to_str().unwrap()], dir.path());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "ai.h2o.wave.cloud-app 1.2.0: valid (5 warnings, 3 notes)\n"
    );
    let err = stderr(&o);
    let shown = app.join("app.toml").display().to_string();
    for expected in [
        "note[cloud-manifest-name]: app.toml (H2O AI Cloud's name) is read as the manifest\n",
        &format!(
            "note[extra-table]: [Brand] is the app's own table; q8s does not read it\n  --> {shown}:18:1\n"
        ),
        "note[extra-table]: [Data] is the app's own table; q8s does not read it\n",
        "names a file (\"about.md\") whose contents become the app's long description; q8s does not read that file: move its text into `Description`",
        "does not fill `q.auth`",
    ] {
        assert!(err.contains(expected), "{expected:?} in:\n{err}");
    }

    let o = cli(&["bundle", app.to_str().unwrap(), "-o", "json"], dir.path());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(
        v["files"],
        serde_json::json!([
            ".appignore",
            "about.md",
            "app.toml",
            "requirements.txt",
            "src/__init__.py",
            "src/app.py",
            "static/icon.png"
        ])
    );
    // The bundle holds app.toml byte for byte, under its own name.
    let qz = dir.path().join(v["path"].as_str().unwrap());
    let o = cli(
        &["bundle", "inspect", qz.to_str().unwrap(), "-o", "json"],
        dir.path(),
    );
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["valid"], true);
    assert_eq!(v["manifest"]["app"]["name"], "ai.h2o.wave.cloud-app");
    let size = v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "app.toml")
        .map(|e| e["size"].as_u64().unwrap());
    assert_eq!(
        size,
        Some(fs::metadata(app.join("app.toml")).unwrap().len())
    );
}

#[test]
fn explain_writes_nothing_unless_an_output_path_asks_for_it() {
    let dir = tempfile::tempdir().unwrap();
    let o = cli(&["bundle", "--explain", &hello()], dir.path());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("included  hello/app.py"), "{text}");
    assert!(
        text.ends_with(
            "7 files of the bundle, nothing written (add -o PATH to write it): valid (0 warnings)\n"
        ),
        "{text}"
    );
    let o = cli(&["bundle", "--explain", &hello(), "-o", "json"], dir.path());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["valid"], true);
    assert!(v["explain"].as_array().unwrap().len() >= 5);
    // The one check report of core, as the page's `BundleBuilder.check` gives it.
    assert_eq!(v["manifest_file"], "q-app.toml");
    assert_eq!(v["icon"], "static/icon.png");
    assert_eq!(v["manifest"]["app"]["name"], "ai.h2o.q8s.hello");
    let files = v["files"].as_array().unwrap();
    assert!(
        files
            .iter()
            .any(|f| f["path"] == "hello/app.py" && f["executable"] == false),
        "{files:?}"
    );
    assert_eq!(
        fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing written"
    );
    // -o PATH asks for the bundle too.
    let o = cli(
        &["bundle", "--explain", &hello(), "-o", "dist/"],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("included  hello/app.py"));
    assert!(dir.path().join("dist/ai.h2o.q8s.hello.0.1.0.qz").is_file());
    // An invalid folder: exit 1, still nothing written.
    let bad = dir.path().join("bad");
    fs::create_dir(&bad).unwrap();
    fs::write(bad.join("main.py"), "").unwrap();
    let o = cli(&["bundle", "--explain"], &bad);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("error[manifest-missing]"),
        "{}",
        stderr(&o)
    );
    assert_eq!(fs::read_dir(&bad).unwrap().count(), 1);
}

#[test]
fn requirements_problems_point_into_requirements_txt() {
    let dir = tempfile::tempdir().unwrap();
    write_app(dir.path(), MANIFEST_A, "");
    fs::write(
        dir.path().join("requirements.txt"),
        "h2o-wave==0.26.4\npandas=2.0\nnumpy scipy\n",
    )
    .unwrap();
    let o = cli(&["bundle", "validate"], dir.path());
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    for expected in [
        "error[requirement-syntax]: requirements.txt line 2: `=` alone is not a comparison: pin a version with `==`\n  --> requirements.txt:2:7\n",
        "error[requirements-run-together]: requirements.txt line 3 holds two requirements: `scipy` starts before the first one ends\n  --> requirements.txt:3:7\n",
        "note[wave-constrained]: requirements.txt line 1: `h2o-wave==0.26.4` allows only h2o-wave releases before 1.8.6",
    ] {
        assert!(err.contains(expected), "{expected:?} in:\n{err}");
    }
    assert_eq!(stdout(&o), ".: invalid: 2 errors, 1 warning, 1 note\n");
}
