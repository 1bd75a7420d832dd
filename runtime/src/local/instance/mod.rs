//! The supervisor of one instance: admission, preparation, then Qd and the app in their
//! sandboxes, watched until a stop is asked for; crashes are restarted with exponential
//! backoff until too many come in a row. Every crash says why: how the process ended and the
//! decisive line of what it printed ([`super::diagnose`]).

mod launch;
mod pair;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::Shared;
use super::admission::human;
use super::cgroup::Cgroup;
use super::diagnose;
use super::log::{InstanceLog, RunOutput};
use super::network::Pod;
use super::prepare::{AppKind, InstallContext, Prepared};
use super::process::{Confinement, Sandboxed, describe_exit};
use super::sandbox::Sandbox;
use crate::app_process::AccessKey;
use crate::{BundleSource, InstanceSpec, InstanceStatus, StatusUpdate, Upstream};
use launch::{APP_PORT, QD_PORT, free_port};
use pair::{Silent, answers, silence, stop_all, wait_either};

/// A supervised instance, as the runtime tracks it.
pub(crate) struct InstanceHandle {
    pub(crate) log: Arc<InstanceLog>,
    /// The bundle it runs (kept extracted while the instance is known).
    pub(crate) bundle_sha256: String,
    upstream: Mutex<Option<Upstream>>,
    /// The last status reported.
    status: Mutex<InstanceStatus>,
    restarts: AtomicU32,
    stop: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl InstanceHandle {
    /// Starts supervising `spec`.
    pub(crate) fn spawn(shared: Arc<Shared>, spec: InstanceSpec) -> Arc<Self> {
        let log = Arc::new(InstanceLog::new(
            shared.logs_dir.join(format!("{}.log", spec.instance_id)),
            shared.config.log_max_bytes,
        ));
        let (stop, stopped) = watch::channel(false);
        let handle = Arc::new(InstanceHandle {
            log,
            bundle_sha256: spec.bundle_sha256.clone(),
            upstream: Mutex::new(None),
            status: Mutex::new(InstanceStatus::Pending),
            restarts: AtomicU32::new(0),
            stop,
            task: Mutex::new(None),
        });
        let supervisor = Supervisor {
            shared,
            spec,
            handle: Arc::clone(&handle),
            stopped,
        };
        let task = tokio::spawn(supervisor.run());
        *lock(&handle.task) = Some(task);
        handle
    }

    /// Whether the supervisor still runs (it ends on stop and on `FAILED`).
    pub(crate) fn is_active(&self) -> bool {
        lock(&self.task)
            .as_ref()
            .is_some_and(|task| !task.is_finished())
    }

    /// Where the proxy forwards to, while `RUNNING`.
    pub(crate) fn upstream(&self) -> Option<Upstream> {
        lock(&self.upstream).clone()
    }

    /// The last status the supervisor reported.
    pub(crate) fn status(&self) -> InstanceStatus {
        *lock(&self.status)
    }

    pub(crate) fn restarts(&self) -> u32 {
        self.restarts.load(Ordering::Relaxed)
    }

    /// Stops both processes and waits until the supervisor has cleaned up.
    pub(crate) async fn stop(&self) {
        let _ = self.stop.send(true);
        let task = lock(&self.task).take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

struct Supervisor {
    shared: Arc<Shared>,
    spec: InstanceSpec,
    handle: Arc<InstanceHandle>,
    stopped: watch::Receiver<bool>,
}

/// How one run of the two processes ended.
enum RunEnd {
    Stopped,
    Crashed {
        reason: String,
        ran: Duration,
        /// What the app printed (to compare the next run's output with).
        output: Option<Arc<Vec<String>>>,
    },
}

/// Why the watch over a run of the two processes ended.
enum Ending {
    Stopped,
    /// `Qd` or `app` ended.
    Exited(&'static str, std::io::Result<std::process::ExitStatus>),
    /// The start timeout passed while this one did not answer.
    Silent(Silent),
}

impl Supervisor {
    async fn run(mut self) {
        let log = Arc::clone(&self.handle.log);
        log.open(
            self.spec
                .env
                .iter()
                .map(|(_, value)| value.clone())
                .collect(),
        );
        self.supervise().await;
        if self.spec.volume_mount.is_some() {
            self.shared.volumes.detach(self.spec.instance_id).await;
        }
        *lock(&self.handle.upstream) = None;
        log.close();
    }

    async fn supervise(&mut self) {
        let reservation = self
            .spec
            .memory_reservation
            .or(self.spec.memory_limit)
            .unwrap_or(0);
        let admission = Arc::clone(&self.shared.admission);
        let (waiting_tx, mut waiting_rx) = tokio::sync::mpsc::unbounded_channel();
        let acquire = admission.acquire(reservation, move |why| {
            let _ = waiting_tx.send(why);
        });
        tokio::pin!(acquire);
        let permit = loop {
            tokio::select! {
                permit = &mut acquire => break permit,
                Some(why) = waiting_rx.recv() => {
                    self.handle.log.note(&why);
                    self.report(InstanceStatus::Pending, Some(why)).await;
                }
                () = stop_requested(&mut self.stopped) => return,
            }
        };
        let _permit = match permit {
            Ok(permit) => permit,
            Err(why) => return self.fail(why).await,
        };

        self.report(InstanceStatus::Starting, None).await;
        let cgroup = self.cgroup();
        let mut pod = match self.pod(self.shared.isolation.outbound).await {
            Ok(pod) => pod,
            Err(why) => return self.fail(why).await,
        };
        let mut stopped = self.stopped.clone();
        let prepared = tokio::select! {
            prepared = self.prepare(pod.as_ref(), cgroup.as_ref()) => prepared,
            () = stop_requested(&mut stopped) => {
                stop_pod(&mut pod).await;
                return;
            }
        };
        let prepared = match prepared {
            Ok(prepared) => prepared,
            Err(why) => {
                stop_pod(&mut pod).await;
                return self.fail(why).await;
            }
        };
        let volume = match &self.spec.volume_mount {
            Some(_) => {
                let owner = self.shared.isolation.user.map(|user| (user.uid, user.gid));
                let attached = self.shared.volumes.attach(
                    self.spec.instance_id,
                    self.spec.volume_size,
                    owner,
                    &self.handle.log,
                );
                match attached.await {
                    Ok(dir) => Some(dir),
                    Err(why) => {
                        stop_pod(&mut pod).await;
                        return self.fail(why).await;
                    }
                }
            }
            None => None,
        };
        let sandbox = match self.sandbox(&prepared, pod.is_some(), volume.as_deref()) {
            Ok(sandbox) => sandbox,
            Err(why) => {
                stop_pod(&mut pod).await;
                return self.fail(why).await;
            }
        };
        let confinement = Confinement {
            user: self.shared.isolation.user,
            netns: pod.as_ref().map(|pod| Arc::clone(pod.netns())),
        };

        let shared = Arc::clone(&self.shared);
        let config = &shared.config;
        let mut crashes_in_a_row = 0u32;
        let mut last_crash: Option<String> = None;
        // Whether the crashes of this row all had the same reason.
        let mut same_reason = true;
        let mut last_output = None;
        loop {
            match self
                .run_once(
                    &prepared,
                    &sandbox,
                    &confinement,
                    cgroup.as_ref(),
                    last_crash.as_deref(),
                    last_output.take(),
                )
                .await
            {
                RunEnd::Stopped => break,
                RunEnd::Crashed {
                    reason,
                    ran,
                    output,
                } => {
                    self.handle.log.note(&reason);
                    if ran >= config.crash_reset_after {
                        crashes_in_a_row = 0;
                    }
                    same_reason = crashes_in_a_row == 0
                        || (same_reason && last_crash.as_deref() == Some(reason.as_str()));
                    crashes_in_a_row += 1;
                    if crashes_in_a_row >= config.max_crashes {
                        self.fail(if same_reason && crashes_in_a_row > 1 {
                            format!(
                                "crashed {crashes_in_a_row} times in a row with the same error: \
                                 {reason}"
                            )
                        } else {
                            format!("{reason}; crashed {crashes_in_a_row} times in a row")
                        })
                        .await;
                        break;
                    }
                    let delay = backoff(
                        config.restart_backoff,
                        config.restart_backoff_max,
                        crashes_in_a_row,
                    );
                    let restarts = self.handle.restarts.fetch_add(1, Ordering::Relaxed) + 1;
                    let message = format!(
                        "{reason}; restart {restarts} in {:.1}s",
                        delay.as_secs_f64()
                    );
                    self.handle.log.note(&message);
                    self.report(InstanceStatus::Starting, Some(message)).await;
                    last_crash = Some(reason);
                    last_output = output;
                    tokio::select! {
                        () = tokio::time::sleep(delay) => {}
                        () = stop_requested(&mut self.stopped) => break,
                    }
                }
            }
        }
        stop_pod(&mut pod).await;
        if let Some(cgroup) = cgroup {
            cgroup.remove();
        }
    }

    /// The instance's network namespace (with outbound traffic when `outbound`), when this host
    /// gives instances their own.
    async fn pod(&self, outbound: bool) -> Result<Option<Pod>, String> {
        let isolation = &self.shared.isolation;
        let (Some(user), true) = (isolation.user, isolation.own_network) else {
            return Ok(None);
        };
        let slirp = isolation.slirp4netns.as_deref().filter(|_| outbound);
        Pod::create(user, slirp)
            .await
            .map(Some)
            .map_err(|err| format!("cannot create the instance's network: {err}"))
    }

    /// Extracts the bundle and builds the environment, the install confined like the instance
    /// (in its cgroup, as the sandbox user) in a network of its own whose only way out is the
    /// package-index proxy.
    async fn prepare(
        &self,
        pod: Option<&Pod>,
        cgroup: Option<&Cgroup>,
    ) -> Result<Prepared, String> {
        // `check_spec` let only local files through.
        let BundleSource::LocalFile(bundle_path) = &self.spec.bundle else {
            return Err("the local runtime reads bundles from local files only".to_owned());
        };
        let procs = cgroup
            .map(Cgroup::procs_file)
            .transpose()
            .map_err(|err| format!("cannot use the instance cgroup: {err}"))?;
        // A network of its own, loopback only: the install reaches package indexes through the
        // server's proxy inside it, nothing else (`index_proxy`).
        let mut install_pod = match pod {
            Some(_) => self.pod(false).await?,
            None => None,
        };
        let netns = install_pod.as_ref().map(|pod| Arc::clone(pod.netns()));
        let confinement = Confinement {
            user: self.shared.isolation.user,
            netns,
        };
        let install = InstallContext {
            owner: self.spec.owner_id,
            confinement: &confinement,
            cgroup: procs.as_ref(),
            seccomp: self.shared.isolation.seccomp,
        };
        let prepared = self
            .shared
            .preparer
            .prepare(
                &self.spec.bundle_sha256,
                bundle_path,
                &self.spec.module,
                &self.handle.log,
                &install,
            )
            .await;
        stop_pod(&mut install_pod).await;
        prepared
    }

    /// Starts Qd and the app, reports RUNNING once both answer, and returns when one of them
    /// ends or a stop is asked for (both are stopped either way). `previous_output`: what the
    /// app printed at the crash before, not written to the log again if it repeats.
    #[allow(clippy::too_many_arguments)]
    async fn run_once(
        &mut self,
        prepared: &Prepared,
        sandbox: &Sandbox,
        confinement: &Confinement,
        cgroup: Option<&Cgroup>,
        last_crash: Option<&str>,
        previous_output: Option<Arc<Vec<String>>>,
    ) -> RunEnd {
        let log = Arc::clone(&self.handle.log);
        let config = &self.shared.config;
        let oom_before = cgroup.map_or(0, Cgroup::oom_kills);
        let procs = match cgroup.map(Cgroup::procs_file).transpose() {
            Ok(procs) => procs,
            Err(err) => {
                return crashed(
                    format!("cannot use the instance cgroup: {err}"),
                    Duration::ZERO,
                );
            }
        };
        // In a namespace of its own, the instance has every port to itself.
        let (qd_port, app_port) = match (&confinement.netns, free_port(), free_port()) {
            (Some(_), _, _) => (QD_PORT, APP_PORT),
            (None, Ok(qd), Ok(app)) if qd != app => (qd, app),
            _ => return crashed("no free loopback port".into(), Duration::ZERO),
        };
        let at = |port| {
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
            match &confinement.netns {
                Some(netns) => Upstream::in_netns(addr, Arc::clone(netns)),
                None => Upstream::host(addr),
            }
        };
        let (qd_upstream, app_upstream) = (at(qd_port), at(app_port));
        let wave = prepared.kind != AppKind::Plain;
        let keys = AccessKey::new();
        let qd_output = Arc::new(RunOutput::new("Qd", None));
        let app_output = Arc::new(RunOutput::new("app", previous_output));
        let mut qd = None;
        if let (true, Some((waved, www))) = (wave, &prepared.waved) {
            let launch = match self.qd_launch(prepared, waved, www, qd_port, &keys) {
                Ok(launch) => launch,
                Err(err) => return crashed(format!("cannot start Qd: {err}"), Duration::ZERO),
            };
            log.note(&format!("starting Qd on 127.0.0.1:{qd_port}"));
            match Sandboxed::spawn(launch, confinement, procs.as_ref(), &log, &qd_output) {
                Ok(process) => qd = Some(process),
                Err(err) => return crashed(format!("cannot start Qd: {err}"), Duration::ZERO),
            }
        }
        let launch = match self.app_launch(prepared, sandbox, qd_port, app_port, &keys) {
            Ok(launch) => launch,
            Err(err) => {
                stop_all(&mut qd, None, config.stop_grace).await;
                return crashed(format!("cannot start the app: {err}"), Duration::ZERO);
            }
        };
        log.note(&format!(
            "starting the app {} on 127.0.0.1:{app_port}",
            self.spec.module
        ));
        let mut app = match Sandboxed::spawn(launch, confinement, procs.as_ref(), &log, &app_output)
        {
            Ok(process) => process,
            Err(err) => {
                stop_all(&mut qd, None, config.stop_grace).await;
                return crashed(format!("cannot start the app: {err}"), Duration::ZERO);
            }
        };
        // Both have joined the cgroup: its files need not stay open while they run.
        drop(procs);
        let upstream = if wave {
            qd_upstream.clone()
        } else {
            app_upstream.clone()
        };

        let started = Instant::now();
        let deadline = tokio::time::sleep(config.start_timeout);
        tokio::pin!(deadline);
        let mut ready = false;
        let mut silent = Silent::App;
        let ending = loop {
            tokio::select! {
                (name, status) = wait_either(&mut qd, &mut app) => break Ending::Exited(name, status),
                () = stop_requested(&mut self.stopped) => break Ending::Stopped,
                () = &mut deadline, if !ready => break Ending::Silent(silent),
                answered = answers(wave.then_some(&qd_upstream), &app_upstream), if !ready => {
                    match answered {
                        Ok(()) => {
                            ready = true;
                            log.release(&app_output);
                            *lock(&self.handle.upstream) = Some(upstream.clone());
                            log.note(&format!("ready after {} ms", started.elapsed().as_millis()));
                            let message = last_crash.map(|why| format!("last crash: {why}"));
                            self.report(InstanceStatus::Running, message).await;
                        }
                        Err(which) => {
                            silent = which;
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    }
                }
            }
        };
        let ran = started.elapsed();
        // Quoted before the stop, which may make the process print more (its shutdown).
        let silence_reason = match ending {
            Ending::Silent(Silent::Qd) => Some(silence(
                format!("Qd did not answer on port {qd_port}"),
                config.start_timeout,
                &qd_output,
            )),
            Ending::Silent(Silent::App) => Some(silence(
                format!(
                    "the app ran but did not listen on port {app_port} ({})",
                    if wave {
                        "H2O_WAVE_APP_ADDRESS"
                    } else {
                        "$PORT"
                    }
                ),
                config.start_timeout,
                &app_output,
            )),
            _ => None,
        };
        *lock(&self.handle.upstream) = None;
        stop_all(&mut qd, Some(&mut app), config.stop_grace).await;
        if let Some(qd) = &mut qd {
            qd.drained().await;
        }
        app.drained().await;
        let reason = match ending {
            Ending::Stopped => {
                log.release(&app_output);
                return RunEnd::Stopped;
            }
            Ending::Exited(name, status) => {
                let output = if name == "Qd" {
                    &qd_output
                } else {
                    &app_output
                };
                let mut reason = format!("{name} {}", describe_exit(status));
                if let Some(line) = diagnose::decisive_line(&output.lines()) {
                    reason = format!("{reason}: {line}");
                }
                if cgroup.map_or(0, Cgroup::oom_kills) > oom_before {
                    let limit = self.spec.memory_limit.map(human).unwrap_or_default();
                    reason = format!(
                        "OOMKilled: the instance exceeded its MemoryLimit {limit} ({reason})"
                    );
                }
                reason
            }
            Ending::Silent(_) => silence_reason.unwrap_or_default(),
        };
        RunEnd::Crashed {
            reason,
            ran,
            output: Some(log.finish_crash(&app_output)),
        }
    }

    async fn fail(&self, why: String) {
        self.handle.log.note(&format!("FAILED: {why}"));
        self.report(InstanceStatus::Failed, Some(why)).await;
    }

    /// Reports a status; the message is masked like the log (it may quote what the app
    /// printed, and an app may print a secret).
    async fn report(&self, status: InstanceStatus, message: Option<String>) {
        let update = StatusUpdate {
            status,
            message: message.map(|m| self.handle.log.redact(&m)),
            restarts: self.handle.restarts(),
        };
        *lock(&self.handle.status) = status;
        self.shared.sink.update(self.spec.instance_id, update).await;
    }
}

async fn stop_pod(pod: &mut Option<Pod>) {
    if let Some(pod) = pod {
        pod.stop().await;
    }
}

fn crashed(reason: String, ran: Duration) -> RunEnd {
    RunEnd::Crashed {
        reason,
        ran,
        output: None,
    }
}

/// Resolves when a stop was asked for (or the runtime dropped the handle).
async fn stop_requested(stopped: &mut watch::Receiver<bool>) {
    let _ = stopped.wait_for(|stop| *stop).await;
}

fn backoff(base: Duration, max: Duration, crashes: u32) -> Duration {
    base.saturating_mul(1 << crashes.saturating_sub(1).min(16))
        .min(max)
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let base = Duration::from_secs(1);
        let max = Duration::from_secs(30);
        let delays: Vec<u64> = (1..=7).map(|n| backoff(base, max, n).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 30, 30]);
    }
}
