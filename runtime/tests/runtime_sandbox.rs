//! What an app sees inside its sandbox: environment, secrets, read-only app, hidden data
//! directory, and a volume that outlives suspend, resume and a runtime restart.

mod runtime_support;

use q8s_runtime::{InstanceStatus, Runtime, StopMode};
use runtime_support::*;

const SECRET: &str = "tok-5ecret-Value-93f1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sandbox_shows_the_app_its_env_and_volume_and_nothing_else() {
    let h = Harness::new(|_| {});
    let bundle = probe_bundle(h.data.path());
    let mut spec = spec(&bundle, "probe");
    let id = spec.instance_id;
    let data_dir = h.data.path().canonicalize().unwrap().display().to_string();
    spec.env = vec![
        ("API_TOKEN".into(), SECRET.into()),
        ("HOST_DATA_DIR".into(), data_dir.clone()),
    ];
    spec.volume_mount = Some("/data".into());

    h.runtime.start(spec.clone()).await.unwrap();
    h.sink.wait_status(id, InstanceStatus::Running, START).await;
    let app = h.runtime.upstream(id).unwrap();

    let env = get_json(&app, "/env").await;
    assert_eq!(env["API_TOKEN"], SECRET);
    assert_eq!(env["Q8S_INSTANCE_ID"], id.to_string());
    assert_eq!(env["Q8S_APP_ID"], spec.app_id.to_string());
    assert_eq!(env["Q8S_APP_NAME"], "test.app");
    assert_eq!(env["Q8S_APP_VERSION"], "1.0.0");
    assert_eq!(env["Q8S_INSTANCE_URL"], spec.instance_url);
    assert_eq!(env["PORT"], app.addr().unwrap().port().to_string());
    assert!(
        env.get("H2O_WAVE_ADDRESS").is_none(),
        "a plain app runs without Qd"
    );
    assert!(
        env.get("CARGO_MANIFEST_DIR").is_none(),
        "nothing of the server's environment leaks in"
    );

    let probe = get_json(&app, "/probe").await;
    assert_eq!(probe["uid"], 1000, "{probe}");
    assert_eq!(probe["user"], "app", "the sandbox user has a name: {probe}");
    assert_eq!(probe["cwd"], "/app");
    assert!(
        probe["write_app"].as_str().unwrap().contains("Read-only"),
        "{probe}"
    );
    assert!(
        probe["write_venv"].as_str().unwrap().contains("Read-only"),
        "{probe}"
    );
    assert_eq!(probe["write_tmp"], "ok");
    assert_eq!(probe["data_dir_visible"], false, "{probe}");
    assert_eq!(probe["shadow_visible"], false, "{probe}");
    assert!(
        probe["pid1"].as_str().unwrap().contains("bwrap"),
        "own pid namespace: {probe}"
    );
    let root: Vec<&str> = probe["root_entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for hidden in ["work", "home", "var", "opt"] {
        assert!(!root.contains(&hidden), "/{hidden} is visible: {root:?}");
    }
    assert!(root.contains(&"data") && root.contains(&"app") && root.contains(&"venv"));

    // The volume survives suspend and resume ...
    get_json(&app, "/write?text=kept").await;
    h.runtime.stop(id, StopMode::Suspend).await.unwrap();
    assert_eq!(processes_of(id), Vec::<String>::new());
    let before = h.sink.history(id).len();
    h.runtime.start(spec.clone()).await.unwrap();
    h.sink
        .wait_after(id, before, START, |u| u.status == InstanceStatus::Running)
        .await;
    let app = h.runtime.upstream(id).unwrap();
    assert_eq!(get_json(&app, "/read").await["text"], "kept");

    // ... and a restart of the runtime (the server) ...
    h.runtime.shutdown().await;
    assert_eq!(processes_of(id), Vec::<String>::new());
    assert_eq!(
        h.sink.last(id).unwrap().status,
        InstanceStatus::Running,
        "shutdown keeps the desired state"
    );
    let restarted = Harness::runtime_on(h.data.path(), &h.sink, |_| {});
    let before = h.sink.history(id).len();
    restarted.start(spec.clone()).await.unwrap();
    h.sink
        .wait_after(id, before, START, |u| u.status == InstanceStatus::Running)
        .await;
    let app = restarted.upstream(id).unwrap();
    assert_eq!(get_json(&app, "/read").await["text"], "kept");

    // ... and is removed on terminate.
    let volume = h.data.path().join("volumes").join(id.to_string());
    assert!(volume.join("note.txt").is_file());
    restarted.stop(id, StopMode::Terminate).await.unwrap();
    assert!(!volume.exists());
    assert_eq!(h.sink.last(id).unwrap().status, InstanceStatus::Terminated);
    assert_eq!(processes_of(id), Vec::<String>::new());

    let log = h.log(id);
    assert!(log.contains("probe listening"), "{log}");
    assert!(!log.contains(SECRET), "the secret value is in the log");
    restarted.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admins_sandbox_paths_are_seen_and_nothing_next_to_them() {
    use std::os::unix::fs::PermissionsExt;
    let shared = tempfile::tempdir().unwrap();
    let site = shared.path().join("site");
    std::fs::create_dir(&site).unwrap();
    std::fs::write(site.join("krb5.conf"), "[libdefaults]\n").unwrap();
    std::fs::write(shared.path().join("beside.txt"), "not shared").unwrap();
    for dir in [shared.path(), &site] {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let h = Harness::new(|c| c.sandbox_paths = vec![site.clone()]);
    let bundle = probe_bundle(h.data.path());
    let spec = spec(&bundle, "probe");
    h.runtime.start(spec.clone()).await.unwrap();
    h.sink
        .wait_status(spec.instance_id, InstanceStatus::Running, START)
        .await;
    let app = h.runtime.upstream(spec.instance_id).unwrap();
    let file = |path: std::path::PathBuf| {
        let app = &app;
        async move {
            let query = format!("/file?path={}", path.display());
            get_json(app, &query).await
        }
    };
    assert_eq!(
        file(site.join("krb5.conf")).await["text"],
        "[libdefaults]\n"
    );
    assert_eq!(
        file(shared.path().join("beside.txt")).await["error"],
        "FileNotFoundError"
    );
    let probe = get_json(&app, "/probe").await;
    assert_eq!(probe["uid"], 1000);
    h.runtime
        .stop(spec.instance_id, StopMode::Suspend)
        .await
        .unwrap();
}
