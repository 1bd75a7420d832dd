//! One sandboxed process (Qd or the app): spawned with its output going to the instance log,
//! stopped with SIGTERM to everything in its sandbox and SIGKILL after a grace period.
//!
//! The process tree is `bwrap` (our child, in its own process group so that a Ctrl-C meant for
//! the server does not reach it) → the sandbox's init (session leader, pid 1 inside) → the
//! program. The init ignores signals from outside, so SIGTERM to its process group reaches the
//! program and its children only; SIGKILL to the init ends the whole pid namespace. If the
//! server dies, the parent-death signal ends `bwrap`, and bubblewrap's `--die-with-parent` ends
//! the sandbox.

use std::ffi::OsString;
use std::fs;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;

use tokio::process::{Child, Command};

use super::cgroup;
use super::confine::HostUser;
use super::log::{InstanceLog, RunOutput};
use super::network::{NetNs, inherit};
use super::sandbox::BwrapCommand;

/// How long the output of an ended process may take to reach the log (the pipes close when its
/// sandbox's last process ends).
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

/// What to run and with which environment.
pub(crate) struct Launch {
    /// `Qd` or `app`: names the process in the log.
    pub(crate) name: &'static str,
    pub(crate) program: PathBuf,
    pub(crate) args: Vec<OsString>,
    /// Descriptors bubblewrap reads (seccomp filters, generated files): inherited by it.
    pub(crate) fds: Vec<OwnedFd>,
    /// The complete environment: nothing of the server's leaks in.
    pub(crate) env: Vec<(String, String)>,
}

impl Launch {
    /// `name` running `bwrap` as `command` says, with exactly `env`.
    pub(crate) fn new(
        name: &'static str,
        command: BwrapCommand,
        env: Vec<(String, String)>,
    ) -> Self {
        Launch {
            name,
            program: command.program,
            args: command.args,
            fds: command.fds,
            env,
        }
    }
}

/// Where a sandbox's `bwrap` starts from: the host user it runs as and the network namespace
/// it joins (both need the server to be root; `None` leaves the server's own).
#[derive(Clone, Default)]
pub(crate) struct Confinement {
    pub(crate) user: Option<HostUser>,
    pub(crate) netns: Option<Arc<NetNs>>,
}

/// The command for `launch`, entering `confinement` and joining `cgroup` (whose `cgroup.procs`
/// is open) between fork and exec. Output is piped; `launch.fds` must outlive the spawn.
pub(crate) fn command(
    launch: &Launch,
    confinement: &Confinement,
    cgroup: Option<&cgroup::Procs>,
) -> io::Result<Command> {
    let mut command = Command::new(&launch.program);
    command
        .args(&launch.args)
        .env_clear()
        .envs(launch.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let procs = cgroup.map(cgroup::Procs::try_clone).transpose()?;
    let netns = confinement.netns.as_ref().map(|ns| ns.raw_fd());
    let user = confinement.user;
    let inherited: Vec<i32> = launch.fds.iter().map(AsRawFd::as_raw_fd).collect();
    // SAFETY: the closure runs between fork and exec and only makes raw syscalls, on memory
    // allocated before the fork.
    unsafe {
        command.pre_exec(move || {
            super::open_files::restore_in_child()?;
            if let Some(procs) = &procs {
                cgroup::join_in_child(procs)?;
            }
            if let Some(netns) = netns
                && libc::setns(netns, libc::CLONE_NEWNET) != 0
            {
                return Err(io::Error::last_os_error());
            }
            if let Some(user) = &user {
                user.become_it()?;
            }
            // After the user switch, which clears it.
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(io::Error::last_os_error());
            }
            for &fd in &inherited {
                inherit(fd)?;
            }
            Ok(())
        });
    }
    Ok(command)
}

/// A running sandbox.
pub(crate) struct Sandboxed {
    pub(crate) name: &'static str,
    child: Child,
    exited: Option<ExitStatus>,
    /// The tasks copying its stdout and stderr into the log.
    pumps: Vec<tokio::task::JoinHandle<()>>,
}

impl Sandboxed {
    /// Starts `launch` in `confinement`, joined to `cgroup` (whose `cgroup.procs` is open)
    /// before it executes; its output goes to `log` through `output`.
    pub(crate) fn spawn(
        launch: Launch,
        confinement: &Confinement,
        cgroup: Option<&cgroup::Procs>,
        log: &Arc<InstanceLog>,
        output: &Arc<RunOutput>,
    ) -> io::Result<Self> {
        let mut child = command(&launch, confinement, cgroup)?.spawn()?;
        drop(launch.fds);
        let pumps = [
            child
                .stdout
                .take()
                .map(|o| Box::new(o) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
            child
                .stderr
                .take()
                .map(|o| Box::new(o) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
        ]
        .into_iter()
        .flatten()
        .map(|pipe| {
            let (log, output) = (Arc::clone(log), Arc::clone(output));
            tokio::spawn(async move { log.pump(pipe, Some(&output)).await })
        })
        .collect();
        Ok(Sandboxed {
            name: launch.name,
            child,
            exited: None,
            pumps,
        })
    }

    /// Waits (briefly) until everything the process printed is in the log, after it ended.
    pub(crate) async fn drained(&mut self) {
        for pump in self.pumps.drain(..) {
            let _ = tokio::time::timeout(DRAIN_TIMEOUT, pump).await;
        }
    }

    /// Waits until the process exits (cancel-safe).
    pub(crate) async fn wait(&mut self) -> io::Result<ExitStatus> {
        if let Some(status) = self.exited {
            return Ok(status);
        }
        let status = self.child.wait().await?;
        self.exited = Some(status);
        Ok(status)
    }

    /// Stops the sandbox: SIGTERM to the program and its children, SIGKILL to all of it after
    /// `grace`. Returns once `bwrap` has exited.
    pub(crate) async fn stop(&mut self, grace: Duration) {
        if self.exited.is_some() {
            return;
        }
        let Some(pid) = self.child.id() else {
            return;
        };
        let init = sandbox_init(pid).await;
        if let Some(init) = init {
            // SAFETY: plain syscall on a process group we created.
            unsafe { libc::kill(-init, libc::SIGTERM) };
        }
        if init.is_some() && tokio::time::timeout(grace, self.wait()).await.is_ok() {
            return;
        }
        if let Some(init) = init {
            // SAFETY: as above; the init's death ends its pid namespace.
            unsafe { libc::kill(-init, libc::SIGKILL) };
        }
        let _ = self.child.start_kill();
        let _ = self.wait().await;
    }
}

/// The sandbox's init: the child of `bwrap` (it may take a moment to appear).
async fn sandbox_init(bwrap: u32) -> Option<i32> {
    let path = format!("/proc/{bwrap}/task/{bwrap}/children");
    for _ in 0..50 {
        match fs::read_to_string(&path) {
            Ok(text) => {
                if let Some(pid) = text.split_whitespace().find_map(|p| p.parse().ok()) {
                    return Some(pid);
                }
            }
            Err(_) => return None,
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    None
}

/// How a process ended, for status messages (`exited with code 1`, `killed by SIGKILL`).
pub(crate) fn describe_exit(status: io::Result<ExitStatus>) -> String {
    use std::os::unix::process::ExitStatusExt;
    match status {
        Err(err) => format!("cannot be waited for: {err}"),
        Ok(status) => match (status.code(), status.signal()) {
            // bubblewrap reports a program killed by signal N as 128 + N.
            (Some(code), _) if code > 128 && code < 128 + 65 => {
                format!("killed by {}", signal_name(code - 128))
            }
            (Some(code), _) => format!("exited with code {code}"),
            (None, Some(signal)) => format!("killed by {}", signal_name(signal)),
            (None, None) => "ended".to_owned(),
        },
    }
}

fn signal_name(signal: i32) -> String {
    match signal {
        libc::SIGKILL => "SIGKILL".to_owned(),
        libc::SIGTERM => "SIGTERM".to_owned(),
        libc::SIGINT => "SIGINT".to_owned(),
        libc::SIGSEGV => "SIGSEGV".to_owned(),
        libc::SIGABRT => "SIGABRT".to_owned(),
        libc::SIGBUS => "SIGBUS".to_owned(),
        other => format!("signal {other}"),
    }
}
