//! `examples/hello` under the local runtime: bubblewrap, uv and waved for real.

mod runtime_support;

use std::time::{Duration, Instant};

use futures::StreamExt;
use q8s_runtime::{InstanceStatus, Runtime, StopMode};
use runtime_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_runs_answers_logs_and_leaves_no_process_behind() {
    let h = Harness::new(|_| {});
    let files = folder_files(&hello_dir());
    let files: Vec<(&str, Vec<u8>)> = files.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
    let bundle = bundle(h.data.path(), &files);
    let first = spec(&bundle, "hello.app");
    let id = first.instance_id;

    h.runtime.start(first.clone()).await.unwrap();
    h.runtime.start(first.clone()).await.unwrap(); // a no-op while it runs
    h.sink.wait_status(id, InstanceStatus::Running, START).await;
    let upstream = h
        .runtime
        .upstream(id)
        .expect("a RUNNING instance has an upstream");
    let (status, body) = http_get(&upstream, "/").await;
    assert_eq!(status, 200);
    assert!(
        body.contains("<title>") && body.to_lowercase().contains("wave"),
        "{body}"
    );

    // The app never starts a Qd of its own, whatever its Wave version does with
    // `--no-autostart`.
    let app_env = app_environment(id);
    assert!(
        app_env
            .iter()
            .any(|var| var == "H2O_WAVE_NO_AUTOSTART=true"),
        "{app_env:?}"
    );

    let statuses: Vec<_> = h.sink.history(id).iter().map(|u| u.status).collect();
    assert_eq!(
        statuses,
        [InstanceStatus::Starting, InstanceStatus::Running]
    );

    // A second instance of the same version reuses the extracted bundle and the environment.
    let second = spec(&bundle, "hello.app");
    let began = Instant::now();
    h.runtime.start(second.clone()).await.unwrap();
    h.sink
        .wait_status(second.instance_id, InstanceStatus::Running, START)
        .await;
    let cached_start = began.elapsed();
    eprintln!("second start with a cached environment: {cached_start:?}");
    assert!(
        h.log(second.instance_id)
            .contains("using the cached Python environment")
    );
    assert!(
        !h.log(second.instance_id)
            .contains("installing requirements")
    );
    assert_eq!(
        std::fs::read_dir(h.data.path().join("envs"))
            .unwrap()
            .count(),
        1
    );

    // The log: installer, Qd and app lines, every one with the UTC prefix.
    let log = h.log(id);
    assert!(log.contains("installing requirements.txt with uv"), "{log}");
    assert!(
        log.contains("\"t\":\"listen\""),
        "Qd's lines are there: {log}"
    );
    assert!(
        log.contains("Uvicorn running") || log.contains("Application startup complete"),
        "{log}"
    );
    for line in log.lines() {
        let stamp = line.get(..22).unwrap_or_default();
        assert!(
            stamp.len() == 22 && stamp.ends_with(" # ") && stamp.as_bytes()[4] == b'/',
            "line without the prefix: {line:?}"
        );
    }

    // follow: the stream stays open while the instance runs and ends when it stops.
    let mut follow = h.runtime.logs(id, Some(2), true).await.unwrap();
    let head = follow.next().await.unwrap().unwrap();
    assert_eq!(head.iter().filter(|&&b| b == b'\n').count(), 2);
    let pending = tokio::time::timeout(Duration::from_millis(300), follow.next()).await;
    assert!(pending.is_err(), "nothing new yet, but the stream is open");

    assert!(!processes_of(id).is_empty());
    h.runtime.stop(id, StopMode::Suspend).await.unwrap();
    let rest = tokio::time::timeout(Duration::from_secs(10), follow.collect::<Vec<_>>())
        .await
        .expect("follow ends when the instance stops");
    assert!(rest.iter().all(Result::is_ok));
    assert_eq!(h.sink.last(id).unwrap().status, InstanceStatus::Suspended);
    assert!(h.runtime.upstream(id).is_none());
    assert_eq!(processes_of(id), Vec::<String>::new());
    assert!(upstream.connect().await.is_err(), "Qd is gone");

    // The log stays readable after the stop.
    let tail: Vec<_> = h
        .runtime
        .logs(id, Some(1), true)
        .await
        .unwrap()
        .collect()
        .await;
    assert_eq!(tail.len(), 1);

    h.runtime.shutdown().await;
    assert_eq!(processes_of(second.instance_id), Vec::<String>::new());
    assert!(
        h.runtime.start(second).await.is_err(),
        "no starts after shutdown"
    );
}

/// The environment of the instance's app process (`python -m h2o_wave run …`).
fn app_environment(id: uuid::Uuid) -> Vec<String> {
    pids_of(id)
        .into_iter()
        .find(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|cmd| String::from_utf8_lossy(&cmd).contains("h2o_wave\0run"))
        })
        .map(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .unwrap_or_default()
                .split(|&b| b == 0)
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .collect()
        })
        .unwrap_or_else(|| panic!("no app process of instance {id}"))
}

/// Environments are built with bytecode (a read-only environment could not cache it, so each
/// start would compile every module it imports), written as checked-hash `.pyc` files: two
/// owners' builds of the same requirements hold the same bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn environments_hold_the_same_compiled_bytecode_for_every_owner() {
    let h = Harness::new(|_| {});
    let files = folder_files(&hello_dir());
    let files: Vec<(&str, Vec<u8>)> = files.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
    let bundle = bundle(h.data.path(), &files);
    let mut ids = Vec::new();
    for owner in [1u128, 2] {
        let mut spec = spec(&bundle, "hello.app");
        spec.owner_id = uuid::Uuid::from_u128(owner);
        ids.push(spec.instance_id);
        h.runtime.start(spec).await.unwrap();
    }
    for id in &ids {
        h.sink
            .wait_status(*id, InstanceStatus::Running, START)
            .await;
    }
    let envs: Vec<_> = std::fs::read_dir(h.data.path().join("envs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(envs.len(), 2, "one environment per owner");
    let compiled: Vec<Vec<u8>> = envs
        .iter()
        .map(|env| {
            let pyc = files_under(env)
                .into_iter()
                .find(|p| {
                    p.parent()
                        .is_some_and(|d| d.ends_with("h2o_wave/__pycache__"))
                        && p.file_name()
                            .and_then(|n| n.to_str())
                            .is_some_and(|n| n.starts_with("core.") && n.ends_with(".pyc"))
                })
                .unwrap_or_else(|| panic!("no compiled h2o_wave/core.py in {}", env.display()));
            std::fs::read(pyc).unwrap()
        })
        .collect();
    // PEP 552: the flags word after the magic number; 0b11 is "hash-based, checked".
    let flags = u32::from_le_bytes(compiled[0][4..8].try_into().unwrap());
    assert_eq!(flags, 0b11, "not a checked-hash .pyc");
    assert_eq!(compiled[0], compiled[1], "the two builds' bytecode differs");
    h.runtime.shutdown().await;
}
