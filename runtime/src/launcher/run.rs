//! `q8s-launcher run`: Qd and the app (or the app alone, for plain HTTP apps) with the command
//! lines and variables of the local runtime ([`crate::app_process`]); the instance is served on
//! the pod's port. The app gets the `Q8S_*` identity, the variables `Q8S_ENV_NAMES` names
//! (its `[[Env]]`, from the instance's Secret) and nothing else of the launcher's
//! environment. When either process ends, the other is stopped and the launcher exits with an
//! error (the kubelet starts the container again); SIGTERM stops both.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

use crate::app_process::{self, AppKind, Identity};

/// What `run` starts, read from the pod's environment.
#[derive(Debug, Clone)]
pub struct RunSpec {
    /// Who the instance is.
    pub identity: Identity,
    /// `Q8S_MODULE`.
    pub module: String,
    /// The app's `[[Env]]`: the variables `Q8S_ENV_NAMES` names, with their values.
    pub user_env: Vec<(String, String)>,
    /// The app's files.
    pub app_dir: PathBuf,
    /// The environment.
    pub venv_dir: PathBuf,
    /// The port the instance is served on (all interfaces): Qd's, or the plain app's.
    pub port: u16,
    /// The Wave app's own port, on loopback.
    pub app_port: u16,
}

impl RunSpec {
    /// The spec from the launcher's environment (`Q8S_*`, `Q8S_ENV_NAMES` and the variables it
    /// names), with the folders and ports given.
    pub fn from_env(
        app_dir: PathBuf,
        venv_dir: PathBuf,
        port: u16,
        app_port: u16,
    ) -> Result<RunSpec, String> {
        let var = |name: &str| {
            std::env::var(name).map_err(|_| format!("{name} is not set (the pod spec sets it)"))
        };
        let names = std::env::var("Q8S_ENV_NAMES").unwrap_or_default();
        let user_env = names
            .split(',')
            .filter(|n| !n.is_empty())
            .map(|name| Ok((name.to_owned(), var(name)?)))
            .collect::<Result<Vec<_>, String>>()?;
        Ok(RunSpec {
            identity: Identity {
                instance_id: var("Q8S_INSTANCE_ID")?,
                app_id: var("Q8S_APP_ID")?,
                app_name: var("Q8S_APP_NAME")?,
                app_version: var("Q8S_APP_VERSION")?,
                instance_url: var("Q8S_INSTANCE_URL")?,
            },
            module: var("Q8S_MODULE")?,
            user_env,
            app_dir,
            venv_dir,
            port,
            app_port,
        })
    }
}

/// Starts the instance's processes and waits for them; returns why it stopped (`Ok` after
/// SIGTERM).
pub async fn run(spec: &RunSpec) -> Result<(), String> {
    let venv = spec.venv_dir.to_string_lossy().into_owned();
    let (kind, qd) = app_process::app_kind(&spec.venv_dir, &spec.app_dir, &spec.module, &venv);
    let key = app_process::AccessKey::new();
    let mut qd_child = None;
    let app_port = match (kind, &qd) {
        (AppKind::Plain, _) | (_, None) => spec.port,
        (_, Some(qd)) => {
            let listen = format!("0.0.0.0:{}", spec.port);
            let keychain = write_keychain(&key)?;
            let env = app_process::qd_env(
                &venv,
                &spec.identity.instance_id,
                &listen,
                qd,
                &keychain.to_string_lossy(),
            );
            eprintln!("q8s: starting Qd on {listen}");
            qd_child = Some(spawn(&qd.waved, &[], &env, &spec.app_dir, "Qd")?);
            wait_for_port(spec.port).await?;
            spec.app_port
        }
    };
    let (python, args) = app_process::app_command(&venv, kind, &spec.module);
    let env = app_process::app_env(
        &venv,
        &spec.identity,
        &spec.user_env,
        kind,
        (spec.port, app_port),
        &key,
    );
    eprintln!("q8s: starting the app {} on port {app_port}", spec.module);
    let mut app = spawn(&python, &args, &env, &spec.app_dir, "the app")?;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| e.to_string())?;
    let outcome = tokio::select! {
        status = app.wait() => Err(format!("the app ended ({})", describe(status))),
        status = wait_opt(&mut qd_child) => Err(format!("Qd ended ({})", describe(status))),
        _ = term.recv() => Ok(()),
    };
    stop(&mut app).await;
    if let Some(qd) = &mut qd_child {
        stop(qd).await;
    }
    outcome
}

fn spawn(
    program: &str,
    args: &[String],
    env: &[(String, String)],
    dir: &std::path::Path,
    what: &str,
) -> Result<Child, String> {
    Command::new(program)
        .args(args)
        .current_dir(dir)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start {what} ({program}): {e}"))
}

async fn wait_opt(child: &mut Option<Child>) -> std::io::Result<std::process::ExitStatus> {
    match child {
        Some(child) => child.wait().await,
        None => std::future::pending().await,
    }
}

fn describe(status: std::io::Result<std::process::ExitStatus>) -> String {
    match status {
        Ok(status) => status.to_string(),
        Err(e) => e.to_string(),
    }
}

/// Waits (60 s at most) until something accepts connections on `port` of loopback.
async fn wait_for_port(port: u16) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        if tokio::time::Instant::now() > deadline {
            return Err(format!("Qd did not listen on port {port} within 60 s"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// SIGTERM, then SIGKILL after 5 s.
async fn stop(child: &mut Child) {
    if let Some(pid) = child.id() {
        // SAFETY: kill sends a signal to our own child's pid; nothing is read or written.
        unsafe {
            libc::kill(pid as libc::pid_t, libc::SIGTERM);
        }
    }
    if tokio::time::timeout(Duration::from_secs(5), child.wait())
        .await
        .is_err()
    {
        let _ = child.kill().await;
    }
}

/// Writes Qd's keychain ([`app_process::AccessKey::keychain`]) to a file only this user reads,
/// in the pod's temporary folder (`$TMPDIR`, else `/tmp`).
fn write_keychain(key: &app_process::AccessKey) -> Result<std::path::PathBuf, String> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let dir = std::env::var_os("TMPDIR").map_or_else(|| "/tmp".into(), std::path::PathBuf::from);
    let path = dir.join("q8s-wave-keychain");
    let text = key.keychain()?;
    let _ = std::fs::remove_file(&path);
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .and_then(|mut file| file.write_all(text.as_bytes()))
        .map_err(|e| format!("writing Qd's keychain {}: {e}", path.display()))?;
    Ok(path)
}
