//! `q8s-launcher` for real, as a plain process (no container): a `q8s-server --runtime
//! kubernetes` on the fake cluster launches the hello app; the launcher is given exactly the
//! environment the pod spec gives its two containers (the Secret's values resolved, the server's
//! name resolved to this machine, as the cluster's DNS would), fetches the bundle from the real
//! server with the instance's token, builds the environment with real uv, and runs Qd and the
//! app: the Wave page answers on the pod's port, and the app's environment is exactly the local
//! runtime's. What the container adds (read-only root, uid 10001, seccomp) only a cluster shows.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::kubernetes::*;
use common::*;
use reqwest::StatusCode;
use serde_json::json;

/// The launcher beside the test's binaries. Under nextest (whose build is over when tests
/// run) cargo brings it up to date; under `cargo test`, which holds the build directory while
/// tests run, it is built only when missing (`cargo test --workspace` builds it anyway).
fn launcher() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap();
    let dir = if dir.ends_with("deps") {
        dir.parent().unwrap()
    } else {
        dir
    };
    let launcher = dir.join("q8s-launcher");
    if std::env::var_os("NEXTEST_RUN_ID").is_none() && launcher.exists() {
        return launcher;
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "-p", "q8s-runtime", "--bin", "q8s-launcher"])
        .status()
        .expect("running cargo build");
    assert!(status.success(), "building q8s-launcher failed");
    launcher
}

/// What the pod's image and the kubelet give every container besides the pod spec: a PATH (uv
/// and Python), the package index settings the machine has, and a variable no app may see.
fn image_env() -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = std::env::vars()
        .filter(|(k, _)| {
            k == "PATH"
                || k.starts_with("UV_")
                || k.starts_with("PIP_")
                || k.to_ascii_uppercase().ends_with("_PROXY")
                || k.starts_with("SSL_CERT")
        })
        .collect();
    env.push(("KUBERNETES_SERVICE_HOST".into(), "10.0.0.1".into()));
    env
}

fn launch(launcher: &Path, args: &[&str], env: &[(String, String)], log: &Path) -> Child {
    let log = std::fs::File::create(log).unwrap();
    Command::new(launcher)
        .args(args)
        .env_clear()
        .envs(image_env())
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .stdin(Stdio::null())
        .spawn()
        .unwrap()
}

/// The names of the variables of the process whose command line contains `needle`, among the
/// children of `root`; `None` while there is none.
fn environment_of(root: u32, needle: &str) -> Option<Vec<String>> {
    let children =
        std::fs::read_to_string(format!("/proc/{root}/task/{root}/children")).unwrap_or_default();
    for pid in children.split_whitespace() {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline).contains(needle) {
            let mut names: Vec<String> = std::fs::read(format!("/proc/{pid}/environ"))
                .unwrap_or_default()
                .split(|&b| b == 0)
                .filter(|v| !v.is_empty())
                .map(|v| {
                    String::from_utf8_lossy(v)
                        .split('=')
                        .next()
                        .unwrap()
                        .to_owned()
                })
                .collect();
            names.sort();
            return Some(names);
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_launcher_fetches_builds_and_runs_hello_as_the_pod_spec_says() {
    let launcher = launcher();
    // An admin's constraint rule (harmless: hello installs no numpy) reaches the pod's install.
    let rules = tempfile::tempdir().unwrap();
    let rules_file = rules.path().join("site.toml");
    std::fs::write(
        &rules_file,
        "version = \"site-7\"\n[[rule]]\npins = [\"numpy<3\"]\nwhy = \"the admin's own rule\"\n",
    )
    .unwrap();
    let constraints = ["--constraints", rules_file.to_str().unwrap()];
    let (api, _cluster, _kubeconfig, server) = server_on_fake_cluster(&constraints).await;
    let admin = server.admin_token.clone();
    server
        .put_secret("hello-secrets", json!({"greeting": "s3cr3t-value"}))
        .await;
    let env =
        "[[Env]]\nName = \"GREETING\"\nSecret = \"hello-secrets\"\nSecretKey = \"greeting\"\n";
    let (_dir, bundle) = hello_variant("0.3.0", env);
    let (status, app) = server.import(&admin, &bundle, "PRIVATE").await;
    assert_eq!(status, StatusCode::CREATED, "{app}");
    let (status, instance) = server
        .launch(&admin, app["id"].as_str().unwrap(), "PRIVATE")
        .await;
    assert_eq!(status, StatusCode::CREATED, "{instance}");
    let id = instance["id"].as_str().unwrap().to_owned();

    let pod = tempfile::tempdir().unwrap();
    let (app_dir, venv_dir, tmp_dir) = (
        pod.path().join("app"),
        pod.path().join("venv"),
        pod.path().join("tmp"),
    );
    let folders = [
        "--app-dir",
        app_dir.to_str().unwrap(),
        "--venv-dir",
        venv_dir.to_str().unwrap(),
    ];
    let real_server = format!("http://127.0.0.1:{}", server.port);
    let mut prepare_env = container_env(&api, &id, "prepare");
    for (name, value) in &mut prepare_env {
        if name == "Q8S_BUNDLE_URL" {
            *value = value.replace("http://q8s-server.q8s-system.svc:8008", &real_server);
        }
    }

    // A bundle that does not hash to the spec's sha256 is refused, and nothing is unpacked.
    let mut wrong = prepare_env.clone();
    for (name, value) in &mut wrong {
        if name == "Q8S_BUNDLE_SHA256" {
            *value = "0".repeat(64);
        }
    }
    let log = pod.path().join("prepare.log");
    let mut args = folders.to_vec();
    args.extend(["prepare", "--tmp-dir", tmp_dir.to_str().unwrap()]);
    let status = launch(&launcher, &args, &wrong, &log).wait().unwrap();
    let said = std::fs::read_to_string(&log).unwrap();
    assert!(!status.success(), "{said}");
    assert!(said.contains("refused"), "{said}");
    assert_eq!(std::fs::read_dir(&app_dir).unwrap().count(), 0);
    // Without its token, the server refuses the download.
    let tokenless: Vec<_> = prepare_env
        .iter()
        .filter(|(n, _)| n != "Q8S_BUNDLE_TOKEN")
        .cloned()
        .collect();
    let status = launch(&launcher, &args, &tokenless, &log).wait().unwrap();
    let said = std::fs::read_to_string(&log).unwrap();
    assert!(!status.success() && said.contains("401"), "{said}");

    // The init container's step: fetched, checked, unpacked, the environment built.
    let began = Instant::now();
    let status = launch(&launcher, &args, &prepare_env, &log).wait().unwrap();
    let said = std::fs::read_to_string(&log).unwrap();
    assert!(status.success(), "{said}");
    eprintln!("prepare took {:?}", began.elapsed());
    assert!(said.contains("sha256 checked"), "{said}");
    assert!(
        said.contains("numpy<3 (the admin's own rule)"),
        "the server's --constraints in the pod's install: {said}"
    );
    assert!(app_dir.join("q-app.toml").is_file());
    assert!(venv_dir.join("bin/python").exists());
    let bytecode = walk_count(&venv_dir, "pyc");
    assert!(
        bytecode > 100,
        "the environment holds {bytecode} .pyc files"
    );

    // The instance container's step: Qd on the pod's port, the app behind it.
    let (port, app_port) = (free_port(), free_port());
    let mut args = folders.to_vec();
    let ports = [port.to_string(), app_port.to_string()];
    args.extend(["run", "--port", &ports[0], "--app-port", &ports[1]]);
    let run_log = pod.path().join("run.log");
    let mut run = launch(
        &launcher,
        &args,
        &container_env(&api, &id, "instance"),
        &run_log,
    );
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(90);
    let page = loop {
        if let Ok(r) = http.get(format!("http://127.0.0.1:{port}/")).send().await
            && r.status() == StatusCode::OK
        {
            break r.text().await.unwrap();
        }
        assert!(
            Instant::now() < deadline && run.try_wait().unwrap().is_none(),
            "hello did not answer: {}",
            std::fs::read_to_string(&run_log).unwrap()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(page.contains("wave-static"), "{page}");
    // Exactly the local runtime's variables: its own, the app's [[Env]], nothing of the pod's.
    // The launcher starts the app once Qd answers: it may not be running yet.
    let names = loop {
        if let Some(names) = environment_of(run.id(), "h2o_wave") {
            break names;
        }
        assert!(
            Instant::now() < deadline,
            "no process of the launcher runs h2o_wave: {}",
            std::fs::read_to_string(&run_log).unwrap()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let expected = [
        "GREETING",
        "H2O_WAVE_ACCESS_KEY_ID",
        "H2O_WAVE_ACCESS_KEY_SECRET",
        "H2O_WAVE_ADDRESS",
        "H2O_WAVE_APP_ADDRESS",
        "H2O_WAVE_NO_AUTOSTART",
        "HOME",
        "LANG",
        "PATH",
        "PORT",
        "PYTHONDONTWRITEBYTECODE",
        "PYTHONUNBUFFERED",
        "Q8S_APP_ID",
        "Q8S_APP_NAME",
        "Q8S_APP_VERSION",
        "Q8S_INSTANCE_ID",
        "Q8S_INSTANCE_URL",
        "TMPDIR",
        "TZ",
        "VIRTUAL_ENV",
    ];
    assert_eq!(names, expected);

    // SIGTERM (the kubelet's stop): both processes end, the launcher exits cleanly.
    // SAFETY: a signal to our own child.
    unsafe { libc::kill(run.id() as libc::pid_t, libc::SIGTERM) };
    let status = run.wait().unwrap();
    assert!(status.success(), "{status}");
    assert!(
        http.get(format!("http://127.0.0.1:{port}/"))
            .send()
            .await
            .is_err(),
        "Qd still answers"
    );
}

fn walk_count(dir: &Path, extension: &str) -> usize {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| {
            let path = e.path();
            if path.is_dir() && !path.is_symlink() {
                walk_count(&path, extension)
            } else {
                usize::from(path.extension().is_some_and(|x| x == extension))
            }
        })
        .sum()
}
