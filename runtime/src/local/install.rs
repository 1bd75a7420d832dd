//! Building an environment: `uv venv` and `uv pip install` — and with them every `setup.py`
//! and PEP 517 build backend of a bundle — in a bubblewrap sandbox like the app's, as the
//! sandbox user, under the seccomp filter, in the instance's cgroup, within a time limit, in a
//! network of its own whose only way out is the package-index proxy ([`super::index_proxy`]).
//! The sandbox sees one writable folder: the owner's `uv-cache/<owner>/` (their package cache,
//! the environment being built, a scratch copy of the app's files). See `docs/security.md`.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use q8s_core::constraints::Constraints;
use tokio::process::Command;
use uuid::Uuid;

use super::LocalRuntimeConfig;
use super::confine::{self, HostUser};
use super::index_proxy::{Allowed, IndexProxy};
use super::log::InstanceLog;
use super::pins::write_constraints;
use super::prepare::{Interpreter, remove_entries};
use super::process::{self, Confinement, Launch};
use super::sandbox::{ENV_DIR, OWNER_DIR, Sandbox, TOOLS_DIR};
use crate::app_process;

/// Where and how an instance's environment is installed: as the app's owner, in the
/// instance's confinement and cgroup.
pub(crate) struct InstallContext<'a> {
    pub(crate) owner: Uuid,
    pub(crate) confinement: &'a Confinement,
    pub(crate) cgroup: Option<&'a super::cgroup::Procs>,
    pub(crate) seccomp: bool,
}

/// Runs installs in their sandbox.
pub(crate) struct Installer {
    /// `uv-cache/<owner>/`: each owner's package cache, environments being built and scratch
    /// copies of their apps' files.
    owners_dir: PathBuf,
    /// `tools/`: programs copied where the sandbox user can run them.
    tools_dir: PathBuf,
    uv: PathBuf,
    python: PathBuf,
    bwrap: PathBuf,
    install_timeout: Duration,
    user: Option<HostUser>,
    uv_binary: tokio::sync::OnceCell<PathBuf>,
    constraints: Arc<Constraints>,
    /// The admin's `--sandbox-paths`, seen by installs as by apps.
    sandbox_paths: Vec<PathBuf>,
}

impl Installer {
    pub(crate) fn new(
        data_dir: &Path,
        config: &LocalRuntimeConfig,
        user: Option<HostUser>,
    ) -> Self {
        Installer {
            owners_dir: data_dir.join("uv-cache"),
            tools_dir: data_dir.join("tools"),
            uv: config.uv.clone(),
            python: config.python.clone(),
            bwrap: config.bwrap.clone(),
            install_timeout: config.install_timeout,
            user,
            uv_binary: tokio::sync::OnceCell::new(),
            constraints: config.constraints.clone(),
            sandbox_paths: config.sandbox_paths.clone(),
        }
    }

    /// Removes environments being built and scratch copies an interrupted run left behind.
    pub(crate) fn clean_leftovers(&self) {
        for owner in fs::read_dir(&self.owners_dir)
            .into_iter()
            .flatten()
            .flatten()
        {
            remove_entries(&owner.path(), |name| {
                ["build-", "src-", "constraints-"]
                    .iter()
                    .any(|prefix| name.starts_with(prefix))
            });
        }
    }

    /// Builds the environment of the app in `app_dir` with `interpreter` at `dest` (which does
    /// not exist yet); nothing is left behind when it fails.
    pub(crate) async fn install(
        &self,
        app_dir: &Path,
        interpreter: &Interpreter,
        dest: &Path,
        log: &InstanceLog,
        install: &InstallContext<'_>,
    ) -> Result<(), String> {
        let owner_dir = self.owner_dir(install.owner)?;
        let run = uuid::Uuid::new_v4().simple().to_string();
        let (build, src) = (format!("build-{run}"), format!("src-{run}"));
        let copy = {
            let (from, to, user) = (app_dir.to_owned(), owner_dir.join(&src), self.user);
            tokio::task::spawn_blocking(move || copy_tree(&from, &to, user))
        };
        let built = match copy.await {
            Ok(Ok(())) => {
                self.build(&owner_dir, &run, app_dir, interpreter, log, install)
                    .await
            }
            Ok(Err(err)) => Err(format!(
                "cannot copy the app's files for the install: {err}"
            )),
            Err(err) => Err(format!(
                "cannot copy the app's files for the install: {err}"
            )),
        };
        let built = built.and_then(|()| {
            fs::rename(owner_dir.join(&build), dest)
                .map_err(|err| format!("cannot finish the environment: {err}"))
        });
        let _ = fs::remove_dir_all(owner_dir.join(&src));
        let _ = fs::remove_file(owner_dir.join(format!("constraints-{run}.txt")));
        if built.is_err() {
            let _ = fs::remove_dir_all(owner_dir.join(&build));
        }
        built
    }

    /// `uv` as a binary the sandbox user can run: where it is installed when it can reach it,
    /// else a copy in `tools/`.
    async fn uv_binary(&self) -> Result<&PathBuf, String> {
        self.uv_binary
            .get_or_try_init(|| async {
                let uv = resolve_uv(&self.uv, &self.python).await?;
                if self.user.is_none() || confine::reachable_by_others(&uv, true) {
                    return Ok(uv);
                }
                let copy = self.tools_dir.join("uv");
                let tools = self.tools_dir.clone();
                let source = uv.clone();
                tokio::task::spawn_blocking(move || copy_tool(&source, &tools, "uv"))
                    .await
                    .map_err(|err| err.to_string())?
                    .map_err(|err| {
                        format!("cannot copy {} to {}: {err}", uv.display(), copy.display())
                    })?;
                Ok(copy)
            })
            .await
    }

    /// `uv-cache/<owner>/`, the sandbox user's, private.
    fn owner_dir(&self, owner: Uuid) -> Result<PathBuf, String> {
        let dir = self.owners_dir.join(owner.to_string());
        let made = fs::create_dir_all(&self.owners_dir)
            .and_then(|()| confine::dir_with_mode(&dir, 0o700))
            .and_then(|()| match self.user {
                Some(user) => user.own(&dir),
                None => Ok(()),
            });
        made.map_err(|err| format!("cannot prepare {}: {err}", dir.display()))?;
        Ok(dir)
    }

    async fn build(
        &self,
        owner_dir: &Path,
        run: &str,
        app_dir: &Path,
        interpreter: &Interpreter,
        log: &InstanceLog,
        install: &InstallContext<'_>,
    ) -> Result<(), String> {
        let (build, src) = (format!("build-{run}"), format!("src-{run}"));
        let uv = self.uv_binary().await?;
        // The environment is built where instances see it (`/venv`), from a folder of the
        // owner's that becomes `envs/<key>` when it is done.
        let build_dir = owner_dir.join(&build);
        fs::create_dir(&build_dir)
            .and_then(|()| match self.user {
                Some(user) => user.own(&build_dir),
                None => Ok(()),
            })
            .map_err(|err| format!("cannot prepare {}: {err}", build_dir.display()))?;
        let mut sandbox = Sandbox::install(
            &self.bwrap,
            interpreter
                .prefix()
                .into_iter()
                .chain(install_files())
                .chain(self.sandbox_paths.iter().cloned())
                .collect(),
            owner_dir,
            &src,
            &build_dir,
            uv,
        );
        if !install.seccomp {
            sandbox = sandbox.without_seccomp();
        }
        // In a network of its own, the install's only way out: a proxy to its package indexes.
        let proxy = match &install.confinement.netns {
            Some(netns) => Some(
                IndexProxy::start(netns, Allowed::for_app(app_dir))
                    .map_err(|err| format!("cannot start the install's index proxy: {err}"))?,
            ),
            None => None,
        };
        let mut env = app_process::install_env(&format!("{OWNER_DIR}/cache"));
        if let Some(proxy) = &proxy {
            for name in [
                "HTTPS_PROXY",
                "HTTP_PROXY",
                "ALL_PROXY",
                "https_proxy",
                "http_proxy",
            ] {
                env.retain(|(key, _)| key != name);
                env.push((name.to_owned(), proxy.url()));
            }
            env.retain(|(key, _)| !key.eq_ignore_ascii_case("NO_PROXY"));
        }
        let venv = ENV_DIR;
        log.note(&format!(
            "creating a Python {} environment with uv (in a sandbox)",
            interpreter.version.split_whitespace().next().unwrap_or("")
        ));
        let python = interpreter.executable.to_string_lossy().into_owned();
        let args = app_process::venv_args(&python, venv);
        self.run_uv(&sandbox, &env, &args, "uv venv", install, log, false)
            .await?;
        if !app_dir.join("requirements.txt").is_file() {
            log.note("no requirements.txt: the environment has the standard library only");
            return Ok(());
        }
        let uv = Uv {
            sandbox: &sandbox,
            env: &env,
            python: format!("{venv}/bin/python"),
            install,
            log,
        };
        log.note("installing requirements.txt with uv");
        // Rules for every environment, then those for what the environment resolved to, until
        // no new rule applies (a pin may change what resolves; each rule is added once).
        let constraints_file = format!("constraints-{run}.txt");
        let env_dir = owner_dir.join(&build);
        let mut rounds = app_process::ConstraintRounds::start(&self.constraints, |l| log.note(l));
        loop {
            let file = (!rounds.applied().is_empty())
                .then(|| {
                    write_constraints(owner_dir, &constraints_file, rounds.applied(), self.user)
                })
                .transpose()?;
            self.install_requirements(&uv, file.as_deref()).await?;
            if !rounds.again(&env_dir, |l| log.note(l)) {
                return Ok(());
            }
        }
    }

    /// `uv pip install -r requirements.txt` (with `constraints`, a file inside the sandbox):
    /// from the owner's cache alone first — no index round trip when everything is there (the
    /// common case of a new version with the same dependencies) — then against the index.
    async fn install_requirements(
        &self,
        uv: &Uv<'_>,
        constraints: Option<&str>,
    ) -> Result<(), String> {
        let args = app_process::pip_install_args(&uv.python, constraints);
        let mut offline = args.clone();
        offline.push("--offline".to_owned());
        let quiet = self
            .run_uv(
                uv.sandbox,
                uv.env,
                &offline,
                "uv pip install",
                uv.install,
                uv.log,
                true,
            )
            .await;
        if quiet.is_ok() {
            return Ok(());
        }
        uv.log
            .note("uv's cache does not hold everything: resolving against the package index");
        self.run_uv(
            uv.sandbox,
            uv.env,
            &args,
            "uv pip install",
            uv.install,
            uv.log,
            false,
        )
        .await
    }

    /// Runs `uv args…` in the install sandbox, its output in the log (`quiet`: only when it
    /// succeeds), within the install timeout.
    #[allow(clippy::too_many_arguments)]
    async fn run_uv(
        &self,
        sandbox: &Sandbox,
        env: &[(String, String)],
        args: &[String],
        what: &str,
        install: &InstallContext<'_>,
        log: &InstanceLog,
        quiet: bool,
    ) -> Result<(), String> {
        let command = sandbox
            .command(&format!("{TOOLS_DIR}/uv"), args)
            .map_err(|err| format!("cannot prepare the install sandbox: {err}"))?;
        let launch = Launch::new("uv", command, env.to_vec());
        let mut child = process::command(&launch, install.confinement, install.cgroup)
            .and_then(|mut command| command.spawn())
            .map_err(|err| {
                let reason = format!("cannot run {what} in its sandbox: {err}");
                log.note(&reason);
                reason
            })?;
        drop(launch.fds);
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let collect = async {
            let mut out = Vec::new();
            let mut err = Vec::new();
            let read_out = async {
                if let Some(mut o) = stdout {
                    let _ = tokio::io::AsyncReadExt::read_to_end(&mut o, &mut out).await;
                }
            };
            let read_err = async {
                if let Some(mut e) = stderr {
                    let _ = tokio::io::AsyncReadExt::read_to_end(&mut e, &mut err).await;
                }
            };
            tokio::join!(read_out, read_err);
            let status = child.wait().await;
            (status, err, out)
        };
        let (status, err, out) = match tokio::time::timeout(self.install_timeout, collect).await {
            Ok(done) => done,
            Err(_) => {
                let reason = format!(
                    "installing the environment failed: {what} did not finish within {} s",
                    self.install_timeout.as_secs()
                );
                log.note(&reason);
                return Err(reason);
            }
        };
        let success = matches!(&status, Ok(status) if status.success());
        if success || !quiet {
            for line in err.split(|&b| b == b'\n').chain(out.split(|&b| b == b'\n')) {
                if !line.is_empty() {
                    log.write_line(line);
                }
            }
        }
        match status {
            Ok(_) if success => Ok(()),
            Ok(status) => {
                // uv's own words when it has them (`error:` and its causes), else how it ended.
                let reason = match super::diagnose::uv_error(&String::from_utf8_lossy(&err)) {
                    Some(error) => format!("installing the environment failed: {what}: {error}"),
                    None => format!(
                        "installing the environment failed: {what} {}; see the instance log",
                        process::describe_exit(Ok(status))
                    ),
                };
                if !quiet {
                    log.note(&reason);
                }
                Err(reason)
            }
            Err(err) => Err(format!("installing the environment failed: {what}: {err}")),
        }
    }
}

/// What every `uv` run of one install shares.
struct Uv<'a> {
    sandbox: &'a Sandbox,
    env: &'a [(String, String)],
    /// The environment's interpreter, inside the sandbox.
    python: String,
    install: &'a InstallContext<'a>,
    log: &'a InstanceLog,
}

/// Files the passed settings name (CA bundles), shown read-only in the install sandbox at
/// their own path when they are not in a folder it sees anyway.
fn install_files() -> Vec<PathBuf> {
    ["SSL_CERT_FILE", "SSL_CERT_DIR"]
        .iter()
        .filter_map(std::env::var_os)
        .map(PathBuf::from)
        .filter(|path| {
            path.is_absolute()
                && !path.starts_with("/etc/ssl")
                && !path.starts_with("/usr")
                && confine::reachable_by_others(path, false)
        })
        .collect()
}

/// Copies the app's files to `to` (new), owned by `user`: regular files and folders only, modes
/// kept (extracted bundles hold nothing else).
fn copy_tree(from: &Path, to: &Path, user: Option<HostUser>) -> io::Result<()> {
    fs::create_dir(to)?;
    if let Some(user) = user {
        user.own(to)?;
    }
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let target = to.join(entry.file_name());
        if kind.is_dir() {
            copy_tree(&entry.path(), &target, user)?;
        } else if kind.is_file() {
            fs::copy(entry.path(), &target)?;
            if let Some(user) = user {
                user.own(&target)?;
            }
        }
    }
    Ok(())
}

/// Copies an executable into `dir` (made `0711`) as `name`, `0755`, unless an identical copy is
/// there.
fn copy_tool(source: &Path, dir: &Path, name: &str) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    confine::dir_with_mode(dir, 0o711)?;
    let target = dir.join(name);
    let same = match (fs::metadata(source), fs::metadata(&target)) {
        (Ok(a), Ok(b)) => a.len() == b.len() && fs::read(source)? == fs::read(&target)?,
        _ => false,
    };
    if !same {
        let staging = dir.join(format!(".{name}-{}", uuid::Uuid::new_v4().simple()));
        fs::copy(source, &staging)?;
        fs::set_permissions(&staging, fs::Permissions::from_mode(0o755))?;
        fs::rename(&staging, &target)?;
    }
    Ok(())
}

/// The real `uv` binary behind `uv` (which may be a shell shim, as pyenv installs): the file
/// itself when it is an executable, else what the `uv` Python package of `python` names.
async fn resolve_uv(uv: &Path, python: &Path) -> Result<PathBuf, String> {
    let found = super::which(uv).ok_or_else(|| format!("{} not found", uv.display()))?;
    let mut head = [0u8; 4];
    let is_binary = fs::File::open(&found)
        .and_then(|mut f| io::Read::read_exact(&mut f, &mut head))
        .is_ok()
        && head == *b"\x7fELF";
    if is_binary {
        return fs::canonicalize(&found).map_err(|err| format!("{}: {err}", found.display()));
    }
    let output = Command::new(python)
        .args(["-c", "import uv; print(uv.find_uv_bin())"])
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|err| format!("cannot run {}: {err}", python.display()))?;
    let path = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    if output.status.success() && path.is_file() {
        return fs::canonicalize(&path).map_err(|err| format!("{}: {err}", path.display()));
    }
    Err(format!(
        "{} is a script and the uv package of {} is not installed: set --uv to uv's binary",
        found.display(),
        python.display()
    ))
}
