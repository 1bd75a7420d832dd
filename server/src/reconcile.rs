//! Reconciliation: the instances the store wants running against what the runtime lists
//! ([`q8s_runtime::Runtime::list`]), and the starts and stops that close the gap. A pass runs
//! at start — when the local runtime's sandboxes died with the previous server, it brings
//! them back — and every `--reconcile-interval`, for what a runtime lost or kept on its own
//! (a cluster's pods, another replica's work). What a pass decides is [`plan`], without I/O.
//!
//! An instance the runtime knows is never started again, whatever its state there: `FAILED`
//! means the runtime gave up, and only its owner's resume tries again. An instance that failed
//! to start (its row says `FAILED` while the runtime does not know it) is retried at server
//! start only, so that a missing secret is not retried every pass.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use q8s_runtime::{InstanceStatus, Observed, StopMode};
use uuid::Uuid;

use crate::api::Launcher;
use crate::service::instances::instance_spec;
use crate::state::AppState;
use crate::store::{DesiredState, InstanceRecord};

/// Which pass: the one at start or a periodic one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pass {
    /// The server starts: every wanted instance the runtime does not know is started.
    Startup,
    /// Every `--reconcile-interval`: instances that failed to start are left alone.
    Periodic,
}

/// What a pass does.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Plan {
    /// Instances to start.
    pub start: Vec<Uuid>,
    /// Instances the runtime runs that the store does not want running (checked again against
    /// the store before each stop: it may have been launched meanwhile).
    pub check: Vec<Uuid>,
}

/// Decides a pass from the instances the store wants running and what the runtime lists.
pub(crate) fn plan(pass: Pass, wanted: &[InstanceRecord], observed: &[Observed]) -> Plan {
    let known: HashSet<Uuid> = observed.iter().map(|o| o.instance_id).collect();
    let wanted_ids: HashSet<Uuid> = wanted.iter().map(|i| i.id).collect();
    let start = wanted
        .iter()
        .filter(|i| !known.contains(&i.id))
        .filter(|i| pass == Pass::Startup || i.status != InstanceStatus::Failed)
        .map(|i| i.id)
        .collect();
    let check = observed
        .iter()
        .map(|o| o.instance_id)
        .filter(|id| !wanted_ids.contains(id))
        .collect();
    Plan { start, check }
}

/// What a pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Reconciled {
    /// Instances started.
    pub started: usize,
    /// Instances stopped.
    pub stopped: usize,
}

/// One pass. An instance that cannot be started is marked `FAILED` with the reason.
pub(crate) async fn reconcile(state: &AppState, pass: Pass) -> anyhow::Result<Reconciled> {
    let observed = state.runtime.list().await?;
    let node = state.node.name.as_str();
    let wanted = state.store.catalog.instances_to_run(node).await?;
    let plan = plan(pass, &wanted, &observed);
    let by_id: HashMap<Uuid, &InstanceRecord> = wanted.iter().map(|i| (i.id, i)).collect();
    let mut done = Reconciled::default();
    for id in plan.start {
        // A suspend or a launch may have happened since the lists were read.
        if state.runtime.observe(id).await?.is_some() {
            continue;
        }
        match state.store.catalog.instance(id).await? {
            Some(now) if now.desired == DesiredState::Running => {}
            _ => continue,
        }
        if start(state, by_id[&id], pass).await? {
            done.started += 1;
        }
    }
    for id in plan.check {
        let mode = match state.store.catalog.instance(id).await?.map(|i| i.desired) {
            // Placed on another replica since (this one was taken for gone): stop this copy,
            // and keep its volume, whatever becomes of it.
            // A cluster's instances are every replica's to see: one placed elsewhere is that
            // replica's, no stray copy.
            Some(DesiredState::Running) if state.runtime.shared() => continue,
            Some(DesiredState::Running)
                if state.store.cluster.placement(id).await?.as_deref() != Some(node) =>
            {
                StopMode::Suspend
            }
            Some(DesiredState::Running) => continue,
            Some(DesiredState::Suspended) => StopMode::Suspend,
            Some(DesiredState::Terminated) | None => StopMode::Terminate,
        };
        tracing::info!(instance = %id, ?mode, "stopping an instance that should not run");
        state.runtime.stop(id, mode).await?;
        done.stopped += 1;
    }
    Ok(done)
}

/// Starts `instance`; false (and the row `FAILED` with why) when it cannot be.
async fn start(state: &AppState, instance: &InstanceRecord, pass: Pass) -> anyhow::Result<bool> {
    if pass == Pass::Startup {
        // What the store says about the processes is from before the restart: until the
        // runtime reports, the instance is waiting to start (not RUNNING with nothing behind).
        state
            .store
            .catalog
            .set_instance_status(
                instance.id,
                &state.node.name,
                InstanceStatus::Pending,
                Some("restarting with the server"),
                instance.restarts,
            )
            .await?;
    }
    let outcome = match (
        state.store.catalog.app(instance.app_id).await?,
        state.store.accounts.user(instance.owner_id).await?,
    ) {
        (Some(app), Some(owner)) => {
            match instance_spec(state, &app, instance.id, Launcher::user(&owner)).await {
                Ok(spec) => state.runtime.start(spec).await.map_err(|e| e.to_string()),
                Err(e) => Err(format!("{} ({})", e.message, e.code)),
            }
        }
        (None, _) => Err("the app no longer exists".to_owned()),
        (_, None) => Err("its owner no longer exists".to_owned()),
    };
    let Err(reason) = outcome else {
        return Ok(true);
    };
    tracing::warn!(instance = %instance.id, %reason, "cannot start instance");
    let message = format!("not restarted: {reason}");
    state
        .store
        .catalog
        .set_instance_status(
            instance.id,
            &state.node.name,
            InstanceStatus::Failed,
            Some(&message),
            instance.restarts,
        )
        .await?;
    Ok(false)
}

/// Reconciles every `every`, until aborted (the first pass after `every`: the start-up pass
/// has just run).
pub(crate) async fn reconcile_periodically(state: AppState, every: Duration) {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match reconcile(&state, Pass::Periodic).await {
            Ok(done) if done != Reconciled::default() => {
                tracing::info!(started = done.started, stopped = done.stopped, "reconciled");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "reconciliation skipped"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, RuntimeKind, Settings};
    use crate::store::{NewApp, NewInstance, Visibility};

    fn record(desired: DesiredState, status: InstanceStatus) -> InstanceRecord {
        let now = time::OffsetDateTime::now_utc();
        InstanceRecord {
            id: Uuid::new_v4(),
            app_id: Uuid::new_v4(),
            app_name: "a".into(),
            app_version: "1".into(),
            app_title: None,
            app_icon: None,
            owner_id: Uuid::new_v4(),
            owner: "alice".into(),
            visibility: Visibility::Private,
            desired,
            status,
            status_message: None,
            asleep: false,
            restarts: 0,
            created_at: now,
            updated_at: now,
        }
    }

    fn observed(id: Uuid, status: InstanceStatus) -> Observed {
        Observed {
            instance_id: id,
            status,
            restarts: 0,
        }
    }

    #[test]
    fn a_plan_starts_what_the_runtime_lacks_and_checks_what_it_runs_unwanted() {
        use InstanceStatus::*;
        let running = record(DesiredState::Running, Running);
        let lost = record(DesiredState::Running, Running);
        let failed_to_start = record(DesiredState::Running, Failed);
        let gave_up = record(DesiredState::Running, Failed);
        let orphan = Uuid::new_v4();
        let wanted = [
            running.clone(),
            lost.clone(),
            failed_to_start.clone(),
            gave_up.clone(),
        ];
        let listed = [
            observed(running.id, Running),
            observed(gave_up.id, Failed),
            observed(orphan, Running),
        ];
        // (pass, what it starts)
        let cases = [
            (Pass::Startup, vec![lost.id, failed_to_start.id]),
            (Pass::Periodic, vec![lost.id]),
        ];
        for (pass, start) in cases {
            let plan = plan(pass, &wanted, &listed);
            assert_eq!(plan.start, start, "{pass:?}");
            assert_eq!(plan.check, [orphan], "{pass:?}");
        }
        assert_eq!(plan(Pass::Periodic, &[], &[]), Plan::default());
    }

    /// A server state over a temporary data directory with the fake runtime, and one app.
    async fn state_with_app() -> (tempfile::TempDir, AppState, Uuid, Uuid) {
        let data = tempfile::tempdir().unwrap();
        let settings = Settings {
            data_dir: Some(data.path().to_owned()),
            runtime: Some(RuntimeKind::Fake),
            ..Settings::default()
        };
        let (state, _) = crate::prepare(Config::resolve(settings).unwrap())
            .await
            .unwrap();
        let owner = state
            .store
            .accounts
            .create_user("alice", "x", false)
            .await
            .unwrap();
        let sha256 = "ab".repeat(32);
        let blob = tempfile::NamedTempFile::new_in(data.path()).unwrap();
        state
            .blobs
            .adopt(&sha256, blob.into_temp_path(), None)
            .await
            .unwrap();
        let text = "[App]\nName = \"a.b\"\nVersion = \"1.0.0\"\nTitle = \"A\"\n\n[Runtime]\nModule = \"app\"\nVolumeMount = \"/data\"\nVolumeSize = \"1Gi\"\n";
        let report = q8s_core::validate_manifest(text);
        let manifest = report
            .manifest
            .unwrap_or_else(|| panic!("{:?}", report.diagnostics));
        let app = NewApp {
            id: Uuid::new_v4(),
            owner_id: owner.id,
            visibility: Visibility::Private,
            manifest,
            bundle_sha256: sha256,
            bundle_size: 0,
            icon: None,
            screenshots: Vec::new(),
        };
        let app = state.store.catalog.insert_app(&app).await.unwrap();
        (data, state, app.id, owner.id)
    }

    async fn launch(state: &AppState, app_id: Uuid, owner_id: Uuid) -> Uuid {
        let new = NewInstance {
            id: Uuid::new_v4(),
            app_id,
            owner_id,
            visibility: Visibility::Private,
            node: state.node.name.clone(),
        };
        state.store.catalog.insert_instance(&new).await.unwrap().id
    }

    /// Waits until the store records `status` for `id`.
    async fn wait_status(state: &AppState, id: Uuid, status: InstanceStatus) {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let now = state
                .store
                .catalog
                .instance(id)
                .await
                .unwrap()
                .unwrap()
                .status;
            if now == status {
                return;
            }
            assert!(std::time::Instant::now() < deadline, "{id}: {now}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test]
    async fn a_pass_starts_the_lost_and_stops_the_unwanted() {
        let (_data, state, app, owner) = state_with_app().await;
        let id = launch(&state, app, owner).await;
        let done = reconcile(&state, Pass::Periodic).await.unwrap();
        assert_eq!(
            done,
            Reconciled {
                started: 1,
                stopped: 0
            }
        );
        wait_status(&state, id, InstanceStatus::Running).await;
        // Nothing to do the second time: starting is not repeated.
        let done = reconcile(&state, Pass::Periodic).await.unwrap();
        assert_eq!(done, Reconciled::default());

        // Suspended in the store while the runtime runs it (a stop that got lost).
        state
            .store
            .catalog
            .set_desired_state(id, DesiredState::Suspended, InstanceStatus::Suspended)
            .await
            .unwrap();
        let done = reconcile(&state, Pass::Periodic).await.unwrap();
        assert_eq!(
            done,
            Reconciled {
                started: 0,
                stopped: 1
            }
        );
        assert_eq!(state.runtime.observe(id).await.unwrap(), None);
        wait_status(&state, id, InstanceStatus::Suspended).await;

        // An instance the runtime runs and the store does not know is terminated.
        let stranger = launch(&state, app, owner).await;
        reconcile(&state, Pass::Periodic).await.unwrap();
        wait_status(&state, stranger, InstanceStatus::Running).await;
        state
            .store
            .catalog
            .set_desired_state(
                stranger,
                DesiredState::Terminated,
                InstanceStatus::Terminated,
            )
            .await
            .unwrap();
        let done = reconcile(&state, Pass::Periodic).await.unwrap();
        assert_eq!(
            done,
            Reconciled {
                started: 0,
                stopped: 1
            }
        );
        assert!(state.runtime.list().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_start_that_fails_is_retried_at_server_start_only() {
        let (data, state, app, owner) = state_with_app().await;
        let id = launch(&state, app, owner).await;
        // The bundle is gone: the spec cannot be built.
        let sha256 = "ab".repeat(32);
        state.blobs.delete(&sha256).await.unwrap();
        let done = reconcile(&state, Pass::Startup).await.unwrap();
        assert_eq!(done, Reconciled::default());
        let failed = state.store.catalog.instance(id).await.unwrap().unwrap();
        assert_eq!(failed.status, InstanceStatus::Failed);
        assert!(
            failed
                .status_message
                .as_deref()
                .unwrap()
                .starts_with("not restarted: "),
            "{failed:?}"
        );

        let blob = tempfile::NamedTempFile::new_in(data.path()).unwrap();
        state
            .blobs
            .adopt(&sha256, blob.into_temp_path(), None)
            .await
            .unwrap();
        let done = reconcile(&state, Pass::Periodic).await.unwrap();
        assert_eq!(
            done,
            Reconciled::default(),
            "a periodic pass retried a failed start"
        );
        let done = reconcile(&state, Pass::Startup).await.unwrap();
        assert_eq!(
            done,
            Reconciled {
                started: 1,
                stopped: 0
            }
        );
        wait_status(&state, id, InstanceStatus::Running).await;
    }

    #[tokio::test]
    async fn the_reconciler_runs_every_interval() {
        let (_data, state, app, owner) = state_with_app().await;
        let id = launch(&state, app, owner).await;
        let task = tokio::spawn(reconcile_periodically(
            state.clone(),
            Duration::from_millis(50),
        ));
        wait_status(&state, id, InstanceStatus::Running).await;
        state
            .store
            .catalog
            .set_desired_state(id, DesiredState::Suspended, InstanceStatus::Pending)
            .await
            .unwrap();
        wait_status(&state, id, InstanceStatus::Suspended).await;
        task.abort();
    }
}
