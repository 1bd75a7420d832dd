//! Memory limits, admission, crash restarts and install failures of the local runtime.

mod runtime_support;

use std::time::Duration;

use q8s_runtime::{InstanceStatus, Runtime, StopMode};
use runtime_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_past_its_memory_limit_is_oom_killed_and_restarted() {
    let h = Harness::new(|_| {});
    let bundle = probe_bundle(h.data.path());
    let mut spec = spec(&bundle, "probe");
    let id = spec.instance_id;
    spec.memory_limit = Some(64 * MI);
    h.runtime.start(spec.clone()).await.unwrap();
    h.sink.wait_status(id, InstanceStatus::Running, START).await;
    let app = h.runtime.upstream(id).unwrap();
    // Below the limit is fine ...
    assert_eq!(get_json(&app, "/alloc?mb=8").await["held_mb"], 8);
    // ... past it the kernel kills the app (the connection just breaks).
    let _ =
        tokio::time::timeout(Duration::from_secs(10), http_get_raw(&app, "/alloc?mb=256")).await;
    let crash = h
        .sink
        .wait_for(id, START, |u| {
            u.status == InstanceStatus::Starting && u.message.is_some()
        })
        .await;
    let message = crash.message.unwrap();
    assert!(message.contains("OOMKilled"), "{message}");
    assert!(message.contains("64Mi"), "{message}");
    assert_eq!(crash.restarts, 1);
    let back = h
        .sink
        .wait_after(id, 2, START, |u| u.status == InstanceStatus::Running)
        .await;
    assert!(
        back.message.unwrap().contains("OOMKilled"),
        "RUNNING again, naming the last crash"
    );
    assert!(h.log(id).contains("OOMKilled"));
    h.runtime.stop(id, StopMode::Terminate).await.unwrap();
    assert_eq!(processes_of(id), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_crashes_in_a_row_leave_it_failed() {
    let h = Harness::new(|_| {});
    let bundle = probe_bundle(h.data.path());
    let mut spec = spec(&bundle, "probe");
    let id = spec.instance_id;
    spec.env = vec![("CRASH_AT_START".into(), "1".into())];
    let started = std::time::Instant::now();
    h.runtime.start(spec).await.unwrap();
    let failed = h.sink.wait_status(id, InstanceStatus::Failed, START).await;
    let message = failed.message.unwrap();
    assert!(message.contains("exited with code 3"), "{message}");
    assert!(message.contains("5 times in a row"), "{message}");
    assert_eq!(failed.restarts, 4);
    // Backoff 0.2 + 0.4 + 0.8 + 1.6 s between the five attempts.
    assert!(
        started.elapsed() >= Duration::from_millis(3000),
        "{:?}",
        started.elapsed()
    );
    let restarts: Vec<u32> = h
        .sink
        .history(id)
        .iter()
        .filter(|u| u.status == InstanceStatus::Starting && u.message.is_some())
        .map(|u| u.restarts)
        .collect();
    assert_eq!(restarts, [1, 2, 3, 4]);
    // The app's output once, then one line per crash that repeated it.
    let log = h.log(id);
    assert_eq!(log.matches("# crashing on purpose\n").count(), 1, "{log}");
    assert_eq!(
        log.matches("q8s: the app printed the same line as at its previous crash")
            .count(),
        4,
        "{log}"
    );
    assert!(
        message.starts_with("crashed 5 times in a row with the same error: ")
            && message.ends_with("app exited with code 3: crashing on purpose"),
        "{message}"
    );
    assert_eq!(processes_of(id), Vec::<String>::new());
    assert!(h.runtime.upstream(id).is_none());
    h.runtime.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reservations_wait_in_pending_until_memory_frees() {
    let h = Harness::new(|c| c.memory_capacity = Some(100 * MI));
    let bundle = probe_bundle(h.data.path());
    let mut first = spec(&bundle, "probe");
    first.memory_reservation = Some(64 * MI);
    let mut second = spec(&bundle, "probe");
    second.memory_reservation = Some(64 * MI);
    let mut huge = spec(&bundle, "probe");
    huge.memory_reservation = Some(200 * MI);

    h.runtime.start(first.clone()).await.unwrap();
    h.sink
        .wait_status(first.instance_id, InstanceStatus::Running, START)
        .await;
    h.runtime.start(second.clone()).await.unwrap();
    let pending = h
        .sink
        .wait_status(second.instance_id, InstanceStatus::Pending, START)
        .await;
    let why = pending.message.unwrap();
    assert!(
        why.contains("waiting for memory") && why.contains("36Mi of 100Mi free"),
        "{why}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        h.sink.last(second.instance_id).unwrap().status,
        InstanceStatus::Pending
    );
    assert!(
        processes_of(second.instance_id).is_empty(),
        "nothing runs while PENDING"
    );

    h.runtime
        .stop(first.instance_id, StopMode::Terminate)
        .await
        .unwrap();
    h.sink
        .wait_status(second.instance_id, InstanceStatus::Running, START)
        .await;

    h.runtime.start(huge.clone()).await.unwrap();
    let failed = h
        .sink
        .wait_status(huge.instance_id, InstanceStatus::Failed, START)
        .await;
    assert!(
        failed
            .message
            .unwrap()
            .contains("more than the server's memory capacity")
    );

    // A PENDING instance can be stopped before it ever ran.
    let mut third = spec(&bundle, "probe");
    third.memory_reservation = Some(64 * MI);
    h.runtime.start(third.clone()).await.unwrap();
    h.sink
        .wait_status(third.instance_id, InstanceStatus::Pending, START)
        .await;
    h.runtime
        .stop(third.instance_id, StopMode::Suspend)
        .await
        .unwrap();
    assert_eq!(
        h.sink.last(third.instance_id).unwrap().status,
        InstanceStatus::Suspended
    );
    h.runtime.shutdown().await;
    assert!(processes_of(second.instance_id).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_install_failure_is_failed_with_the_installer_output_in_the_log() {
    let h = Harness::new(|_| {});
    let bundle = bundle(
        h.data.path(),
        &[
            ("main.py", b"print('never runs')\n".to_vec()),
            (
                "requirements.txt",
                b"./wheels/missing-1.0-py3-none-any.whl\n".to_vec(),
            ),
        ],
    );
    let spec = spec(&bundle, "main");
    let id = spec.instance_id;
    h.runtime.start(spec).await.unwrap();
    let failed = h.sink.wait_status(id, InstanceStatus::Failed, START).await;
    let message = failed.message.unwrap();
    assert!(
        message.contains("installing the environment failed"),
        "{message}"
    );
    let log = h.log(id);
    assert!(
        log.contains("missing-1.0-py3-none-any.whl"),
        "uv's own words are in the log: {log}"
    );
    assert!(
        !h.data
            .path()
            .join("envs")
            .read_dir()
            .unwrap()
            .any(|e| { !e.unwrap().file_name().to_string_lossy().starts_with(".tmp") })
    );
    h.runtime.shutdown().await;
}
