//! What an instance needs on disk before it starts: the bundle extracted once per app version
//! (`apps/<sha256>/`) and the Python environment built with `uv` once per content hash of what
//! goes into it (`envs/<hash>/`). Both are built beside their final place and renamed into it,
//! and concurrent starts of the same version wait for one build.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::process::Command;
use tokio::sync::OwnedMutexGuard;
use uuid::Uuid;

use super::confine::{self, HostUser};
use super::index_proxy::{Allowed, IndexProxy};
use super::log::InstanceLog;
use super::process::{self, Confinement, Launch};
use super::sandbox::{ENV_DIR, OWNER_DIR, Sandbox, TOOLS_DIR};

/// How the app runs, decided from its environment and module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AppKind {
    /// An `@app` Wave module: Qd plus `python -m h2o_wave run <module>`; upstream Qd.
    WaveApp,
    /// A Wave script without `@app`: Qd plus `python -m <module>`; upstream Qd.
    WaveScript,
    /// No Wave: `python -m <module>` serving HTTP on `$PORT`; upstream the app.
    Plain,
}

/// Everything an instance start needs on disk.
#[derive(Debug, Clone)]
pub(crate) struct Prepared {
    pub(crate) app_dir: PathBuf,
    pub(crate) env_dir: PathBuf,
    pub(crate) kind: AppKind,
    /// Qd inside the sandbox (`/venv/waved`) and its web folder, for Wave apps.
    pub(crate) waved: Option<(String, String)>,
    /// The interpreter's installation, when it lives outside the system folders.
    pub(crate) python_prefix: Option<PathBuf>,
}

/// Builds and caches extracted bundles and environments.
pub(crate) struct Preparer {
    apps_dir: PathBuf,
    envs_dir: PathBuf,
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
    limits: q8s_core::archive::Limits,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    interpreter: tokio::sync::OnceCell<Interpreter>,
    uv_binary: tokio::sync::OnceCell<PathBuf>,
}

#[derive(Debug)]
struct Interpreter {
    executable: PathBuf,
    version: String,
}

impl Interpreter {
    /// Its installation, when it lives outside the system folders (bound into sandboxes).
    fn prefix(&self) -> Option<PathBuf> {
        let exe = fs::canonicalize(&self.executable).ok()?;
        let prefix = exe.parent()?.parent()?;
        (!prefix.starts_with("/usr")).then(|| prefix.to_owned())
    }
}

/// Where and how an instance's environment is installed: as the app's owner, in the
/// instance's confinement and cgroup.
pub(crate) struct InstallContext<'a> {
    pub(crate) owner: Uuid,
    pub(crate) confinement: &'a Confinement,
    pub(crate) cgroup: Option<&'a super::cgroup::Procs>,
    pub(crate) seccomp: bool,
}

impl Preparer {
    pub(crate) fn new(
        data_dir: &Path,
        uv: PathBuf,
        python: PathBuf,
        bwrap: PathBuf,
        install_timeout: Duration,
        user: Option<HostUser>,
        limits: q8s_core::archive::Limits,
    ) -> Self {
        Preparer {
            apps_dir: data_dir.join("apps"),
            envs_dir: data_dir.join("envs"),
            owners_dir: data_dir.join("uv-cache"),
            tools_dir: data_dir.join("tools"),
            uv,
            python,
            bwrap,
            install_timeout,
            user,
            limits,
            locks: Mutex::new(HashMap::new()),
            interpreter: tokio::sync::OnceCell::new(),
            uv_binary: tokio::sync::OnceCell::new(),
        }
    }

    /// Removes half-built extractions and environments an interrupted run left behind.
    pub(crate) fn clean_leftovers(&self) {
        for (dir, prefix) in [(&self.apps_dir, ".qz-extract-"), (&self.envs_dir, ".tmp-")] {
            remove_entries(dir, |name| name.starts_with(prefix));
        }
        for owner in fs::read_dir(&self.owners_dir)
            .into_iter()
            .flatten()
            .flatten()
        {
            remove_entries(&owner.path(), |name| {
                name.starts_with("build-") || name.starts_with("src-")
            });
        }
    }

    /// Extracts (if needed) and builds the environment (if needed); `Err` is the reason for
    /// `FAILED`, details are in the log.
    pub(crate) async fn prepare(
        &self,
        bundle_sha256: &str,
        bundle_path: &Path,
        module: &str,
        log: &InstanceLog,
        install: &InstallContext<'_>,
    ) -> Result<Prepared, String> {
        let app_dir = self.extract(bundle_sha256, bundle_path, log).await?;
        let interpreter = self.interpreter().await?;
        let env_dir = self
            .environment(&app_dir, interpreter, log, install)
            .await?;
        let waved = find_waved(&env_dir);
        let kind = match &waved {
            None => AppKind::Plain,
            Some(_) if module_uses_app_decorator(&app_dir, module) => AppKind::WaveApp,
            Some(_) => AppKind::WaveScript,
        };
        Ok(Prepared {
            app_dir,
            env_dir,
            kind,
            waved,
            python_prefix: interpreter.prefix(),
        })
    }

    async fn extract(
        &self,
        sha256: &str,
        bundle: &Path,
        log: &InstanceLog,
    ) -> Result<PathBuf, String> {
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("invalid bundle digest `{sha256}`"));
        }
        let dest = self.apps_dir.join(sha256.to_ascii_lowercase());
        let lock = self.lock(&format!("app:{sha256}"));
        let _guard = lock.lock().await;
        if dest.is_dir() {
            return Ok(dest);
        }
        log.note("extracting the bundle");
        fs::create_dir_all(&self.apps_dir)
            .map_err(|err| format!("cannot create {}: {err}", self.apps_dir.display()))?;
        let (bundle, target, limits) = (bundle.to_owned(), dest.clone(), self.limits);
        let result = tokio::task::spawn_blocking(move || -> Result<u64, String> {
            let file =
                fs::File::open(&bundle).map_err(|err| format!("cannot open the bundle: {err}"))?;
            let mut reader = q8s_core::archive::QzReader::open(io::BufReader::new(file), limits)
                .map_err(|err| format!("cannot read the bundle: {err}"))?;
            reader
                .extract_to(&target)
                .map_err(|err| format!("cannot extract the bundle: {err}"))
        })
        .await
        .map_err(|err| format!("bundle extraction failed: {err}"))?;
        let bytes = result?;
        log.note(&format!("extracted {bytes} bytes"));
        Ok(dest)
    }

    /// The interpreter environments are built with: the configured one, or — when the sandbox
    /// user cannot reach it (a pyenv build under `/root`) — the system's `/usr/bin/python3`.
    async fn interpreter(&self) -> Result<&Interpreter, String> {
        self.interpreter
            .get_or_try_init(|| async {
                let found = find_interpreter(&self.python).await?;
                if self.user.is_none() || confine::reachable_by_others(&found.executable, true) {
                    return Ok(found);
                }
                let system = Path::new("/usr/bin/python3");
                if confine::reachable_by_others(system, true) {
                    tracing::info!(
                        "{} is out of the sandbox user's reach; environments use {}",
                        found.executable.display(),
                        system.display()
                    );
                    return find_interpreter(system).await;
                }
                Err(format!(
                    "the sandbox user cannot reach the Python interpreter {}; set --python to one \
                     it can run (e.g. /usr/bin/python3)",
                    found.executable.display()
                ))
            })
            .await
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

    async fn environment(
        &self,
        app_dir: &Path,
        interpreter: &Interpreter,
        log: &InstanceLog,
        install: &InstallContext<'_>,
    ) -> Result<PathBuf, String> {
        let key = environment_key(app_dir, interpreter, install.owner)
            .map_err(|err| format!("cannot read requirements.txt: {err}"))?;
        let dest = self.envs_dir.join(&key);
        let lock = self.lock(&format!("env:{key}"));
        let _guard = lock.lock().await;
        super::gc::record_environment(app_dir, &key)
            .map_err(|err| format!("cannot record the bundle's environment: {err}"))?;
        if dest.is_dir() {
            log.note(&format!(
                "using the cached Python environment {}",
                &key[..12]
            ));
            return Ok(dest);
        }
        fs::create_dir_all(&self.envs_dir)
            .map_err(|err| format!("cannot create {}: {err}", self.envs_dir.display()))?;
        let owner_dir = self.owner_dir(install.owner)?;
        let run = uuid::Uuid::new_v4().simple().to_string();
        let (build, src) = (format!("build-{run}"), format!("src-{run}"));
        let copy = {
            let (from, to, user) = (app_dir.to_owned(), owner_dir.join(&src), self.user);
            tokio::task::spawn_blocking(move || copy_tree(&from, &to, user))
        };
        let built = match copy.await {
            Ok(Ok(())) => {
                self.build(&owner_dir, &build, &src, app_dir, interpreter, log, install)
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
            fs::rename(owner_dir.join(&build), &dest)
                .map_err(|err| format!("cannot finish the environment: {err}"))
        });
        let _ = fs::remove_dir_all(owner_dir.join(&src));
        if built.is_err() {
            let _ = fs::remove_dir_all(owner_dir.join(&build));
        }
        built.map(|()| dest)
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

    #[allow(clippy::too_many_arguments)]
    async fn build(
        &self,
        owner_dir: &Path,
        build: &str,
        src: &str,
        app_dir: &Path,
        interpreter: &Interpreter,
        log: &InstanceLog,
        install: &InstallContext<'_>,
    ) -> Result<(), String> {
        let uv = self.uv_binary().await?;
        let mut sandbox = Sandbox::install(
            &self.bwrap,
            interpreter
                .prefix()
                .into_iter()
                .chain(install_files())
                .collect(),
            owner_dir,
            src,
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
        let mut env = install_env();
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
        let venv = format!("{OWNER_DIR}/{build}");
        log.note(&format!(
            "creating a Python {} environment with uv (in a sandbox)",
            interpreter.version.split_whitespace().next().unwrap_or("")
        ));
        let python = interpreter.executable.to_string_lossy().into_owned();
        let args = [
            "venv",
            "--relocatable",
            "--quiet",
            "--allow-existing",
            "--python",
            &python,
            &venv,
        ];
        self.run_uv(&sandbox, &env, &args, "uv venv", install, log, false)
            .await?;
        if app_dir.join("requirements.txt").is_file() {
            log.note("installing requirements.txt with uv");
            let python = format!("{venv}/bin/python");
            let install_args = [
                "pip",
                "install",
                "--requirement",
                "requirements.txt",
                "--python",
                &python,
            ];
            // From the owner's cache alone first: no index round trip when everything is there
            // (the common case of a new version with the same dependencies).
            let mut offline = install_args.to_vec();
            offline.push("--offline");
            let quiet = self
                .run_uv(
                    &sandbox,
                    &env,
                    &offline,
                    "uv pip install",
                    install,
                    log,
                    true,
                )
                .await;
            if quiet.is_err() {
                log.note(
                    "uv's cache does not hold everything: resolving against the package index",
                );
                self.run_uv(
                    &sandbox,
                    &env,
                    &install_args,
                    "uv pip install",
                    install,
                    log,
                    false,
                )
                .await?;
            }
        } else {
            log.note("no requirements.txt: the environment has the standard library only");
        }
        Ok(())
    }

    /// Runs `uv args…` in the install sandbox, its output in the log (`quiet`: only when it
    /// succeeds), within the install timeout.
    #[allow(clippy::too_many_arguments)]
    async fn run_uv(
        &self,
        sandbox: &Sandbox,
        env: &[(String, String)],
        args: &[&str],
        what: &str,
        install: &InstallContext<'_>,
        log: &InstanceLog,
        quiet: bool,
    ) -> Result<(), String> {
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        let command = sandbox
            .command(&format!("{TOOLS_DIR}/uv"), &args)
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
                let reason = format!(
                    "installing the environment failed: {what} {}; see the instance log",
                    process::describe_exit(Ok(status))
                );
                if !quiet {
                    log.note(&reason);
                }
                Err(reason)
            }
            Err(err) => Err(format!("installing the environment failed: {what}: {err}")),
        }
    }

    /// Where bundles are extracted.
    pub(crate) fn apps_dir(&self) -> &Path {
        &self.apps_dir
    }

    /// Where environments are built.
    pub(crate) fn envs_dir(&self) -> &Path {
        &self.envs_dir
    }

    /// The lock of extracting bundle `sha256`, unless a start holds it (garbage collection).
    pub(crate) fn try_lock_bundle(&self, sha256: &str) -> Option<OwnedMutexGuard<()>> {
        self.lock(&format!("app:{sha256}")).try_lock_owned().ok()
    }

    /// The lock of building environment `key`, unless a start holds it (garbage collection).
    pub(crate) fn try_lock_environment(&self, key: &str) -> Option<OwnedMutexGuard<()>> {
        self.lock(&format!("env:{key}")).try_lock_owned().ok()
    }

    fn lock(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        Arc::clone(locks.entry(key.to_owned()).or_default())
    }
}

/// Settings of the server's environment that say how packages are fetched (an index mirror,
/// a proxy, the CA bundle of a TLS-inspecting network): passed on to installs, the rest of the
/// server's environment is not.
const PASSED_TO_INSTALLS: &[&str] = &[
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "no_proxy",
    "UV_INDEX",
    "UV_DEFAULT_INDEX",
    "UV_INDEX_URL",
    "UV_EXTRA_INDEX_URL",
    "UV_INDEX_STRATEGY",
    "UV_KEYRING_PROVIDER",
    "UV_NATIVE_TLS",
    "UV_SYSTEM_CERTS",
    "UV_INSECURE_HOST",
    "UV_HTTP_TIMEOUT",
    "UV_CONCURRENT_DOWNLOADS",
];

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

/// The install's environment: what uv needs, and of the server's only [`PASSED_TO_INSTALLS`].
fn install_env() -> Vec<(String, String)> {
    let passed = PASSED_TO_INSTALLS
        .iter()
        .filter_map(|name| Some(((*name).to_owned(), std::env::var(name).ok()?)));
    [
        ("PATH", "/usr/local/bin:/usr/bin:/bin"),
        ("HOME", "/tmp"),
        ("TMPDIR", "/tmp"),
        ("LANG", "C.UTF-8"),
        ("UV_CACHE_DIR", "/owner/cache"),
        ("UV_NO_PROGRESS", "1"),
        ("UV_PYTHON_DOWNLOADS", "never"),
        ("NO_COLOR", "1"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .chain(passed)
    .collect()
}

fn remove_entries(dir: &Path, matches: impl Fn(&str) -> bool) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if matches(&entry.file_name().to_string_lossy()) {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
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

async fn find_interpreter(python: &Path) -> Result<Interpreter, String> {
    let output = Command::new(python)
        .args([
            "-c",
            "import sys; print(sys.executable); print(sys.version)",
        ])
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|err| format!("cannot run {}: {err}", python.display()))?;
    let text = String::from_utf8_lossy(&output.stdout);
    let mut lines = text.lines();
    match (output.status.success(), lines.next(), lines.next()) {
        (true, Some(executable), Some(version)) => Ok(Interpreter {
            executable: PathBuf::from(executable),
            version: version.to_owned(),
        }),
        _ => Err(format!(
            "{} does not work as a Python interpreter",
            python.display()
        )),
    }
}

/// The environment's cache key: the owner (an owner's build backends run while it is built, so
/// it is theirs alone), the interpreter, `requirements.txt` and the content of every file of
/// the bundle it names (wheels, `-r`/`-c` files, `--find-links` folders).
fn environment_key(app_dir: &Path, interpreter: &Interpreter, owner: Uuid) -> io::Result<String> {
    let mut hash = Sha256::new();
    hash.update(b"q8s-env-v2\n");
    hash.update(owner.as_bytes());
    hash.update(interpreter.executable.as_os_str().as_encoded_bytes());
    hash.update(b"\n");
    hash.update(interpreter.version.as_bytes());
    hash.update(b"\n");
    // Canonical, so that paths inside hash the same from every version's folder.
    let app_dir = fs::canonicalize(app_dir)?;
    let mut seen = Vec::new();
    hash_requirements(
        &app_dir,
        Path::new("requirements.txt"),
        &mut hash,
        &mut seen,
    )?;
    Ok(format!("{:x}", hash.finalize()))
}

fn hash_requirements(
    app_dir: &Path,
    file: &Path,
    hash: &mut Sha256,
    seen: &mut Vec<PathBuf>,
) -> io::Result<()> {
    let path = app_dir.join(file);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(err) if err.kind() == io::ErrorKind::NotFound && seen.is_empty() => return Ok(()),
        Err(err) => return Err(err),
    };
    seen.push(fs::canonicalize(&path)?);
    hash.update(format!("{}\n{}\n", file.display(), text.len()).as_bytes());
    hash.update(text.as_bytes());
    for line in text.lines() {
        let line = line.trim_start();
        if line.starts_with('#') {
            continue;
        }
        let line = line.split(" #").next().unwrap_or("");
        let mut nested = false;
        for token in line.split_whitespace().flat_map(|t| t.split('=')) {
            if matches!(token, "-r" | "--requirement" | "-c" | "--constraint") {
                nested = true;
                continue;
            }
            if let Some(found) = inside(app_dir, token) {
                if nested && found.is_file() && !seen.contains(&found) && seen.len() < 32 {
                    let relative = found.strip_prefix(app_dir).unwrap_or(&found).to_owned();
                    hash_requirements(app_dir, &relative, hash, seen)?;
                } else {
                    hash_path(app_dir, &found, hash)?;
                }
            }
            nested = false;
        }
    }
    Ok(())
}

/// `token` as a path inside the bundle, if it names one.
fn inside(app_dir: &Path, token: &str) -> Option<PathBuf> {
    let token = token.strip_prefix("file:").unwrap_or(token);
    if token.is_empty() || token.starts_with('-') || Path::new(token).is_absolute() {
        return None;
    }
    let root = fs::canonicalize(app_dir).ok()?;
    let path = fs::canonicalize(app_dir.join(token)).ok()?;
    path.starts_with(&root).then_some(path)
}

fn hash_path(app_dir: &Path, path: &Path, hash: &mut Sha256) -> io::Result<()> {
    let mut files = Vec::new();
    if path.is_dir() {
        for entry in fs::read_dir(path)? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                files.push(entry.path());
            }
        }
        files.sort();
    } else {
        files.push(path.to_owned());
    }
    for file in files {
        let relative = file.strip_prefix(app_dir).unwrap_or(&file);
        let digest = Sha256::digest(fs::read(&file)?);
        hash.update(format!("{}={digest:x}\n", relative.display()).as_bytes());
    }
    Ok(())
}

/// Qd and its web folder as seen inside the sandbox, if the environment has Wave.
fn find_waved(env_dir: &Path) -> Option<(String, String)> {
    let waved = ["waved", "bin/waved"]
        .into_iter()
        .find(|p| env_dir.join(p).is_file())?;
    let www = ["www", "share/wave/www"]
        .into_iter()
        .find(|p| env_dir.join(p).is_dir())?;
    Some((format!("{ENV_DIR}/{waved}"), format!("{ENV_DIR}/{www}")))
}

/// Whether the module's source declares an `@app` handler (else it is run as a script).
fn module_uses_app_decorator(app_dir: &Path, module: &str) -> bool {
    let relative: PathBuf = module.split('.').collect();
    let candidates = [
        app_dir.join(&relative).with_extension("py"),
        app_dir.join(&relative).join("__init__.py"),
    ];
    match candidates.iter().find_map(|p| fs::read_to_string(p).ok()) {
        Some(source) => source.lines().any(|l| l.trim_start().starts_with("@app(")),
        // Compiled or generated: Wave's own runner is the better guess.
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interpreter() -> Interpreter {
        Interpreter {
            executable: PathBuf::from("/usr/bin/python3"),
            version: "3.11.7".into(),
        }
    }

    #[test]
    fn the_key_follows_requirements_and_bundled_wheels() {
        let dir = tempfile::tempdir().unwrap();
        let app = dir.path();
        fs::create_dir(app.join("wheels")).unwrap();
        fs::write(app.join("wheels/a-1.0-py3-none-any.whl"), b"one").unwrap();
        fs::write(app.join("more.txt"), "requests\n").unwrap();
        fs::write(
            app.join("requirements.txt"),
            "h2o-wave==1.8.16\n./wheels/a-1.0-py3-none-any.whl\n-r more.txt # extra\n",
        )
        .unwrap();
        let first = environment_key(app, &interpreter(), Uuid::nil()).unwrap();
        assert_eq!(
            first,
            environment_key(app, &interpreter(), Uuid::nil()).unwrap()
        );
        fs::write(app.join("wheels/a-1.0-py3-none-any.whl"), b"two").unwrap();
        let second = environment_key(app, &interpreter(), Uuid::nil()).unwrap();
        assert_ne!(first, second, "a changed wheel changes the key");
        fs::write(app.join("more.txt"), "requests==2\n").unwrap();
        let third = environment_key(app, &interpreter(), Uuid::nil()).unwrap();
        assert_ne!(
            second, third,
            "a changed nested requirements file changes the key"
        );
        let other = Interpreter {
            version: "3.12.1".into(),
            ..interpreter()
        };
        assert_ne!(third, environment_key(app, &other, Uuid::nil()).unwrap());
        assert_ne!(
            third,
            environment_key(app, &interpreter(), Uuid::from_u128(1)).unwrap(),
            "each owner has environments of their own"
        );
    }

    #[test]
    fn the_same_inputs_in_two_versions_share_a_key() {
        let dir = tempfile::tempdir().unwrap();
        let keys: Vec<String> = ["one", "two"]
            .iter()
            .map(|version| {
                let app = dir.path().join(version);
                fs::create_dir_all(app.join("wheels")).unwrap();
                fs::write(app.join("wheels/a-1.0-py3-none-any.whl"), b"same").unwrap();
                fs::write(app.join("base.txt"), "# pinned\nrequests==2\n").unwrap();
                fs::write(
                    app.join("requirements.txt"),
                    "# bundled\n-r base.txt\nwheels/a-1.0-py3-none-any.whl\n-r requirements.txt\n",
                )
                .unwrap();
                environment_key(&app, &interpreter(), Uuid::nil()).unwrap()
            })
            .collect();
        assert_eq!(keys[0], keys[1]);
    }

    #[test]
    fn paths_leaving_the_bundle_are_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let app = dir.path().join("app");
        fs::create_dir(&app).unwrap();
        fs::write(dir.path().join("outside.whl"), b"x").unwrap();
        assert_eq!(inside(&app, "../outside.whl"), None);
        assert_eq!(inside(&app, "/etc/passwd"), None);
        assert_eq!(inside(&app, "h2o-wave==1"), None);
    }

    #[test]
    fn detects_app_modules() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("pkg")).unwrap();
        fs::write(
            dir.path().join("pkg/app.py"),
            "from h2o_wave import app\n@app('/')\nasync def serve(q): pass\n",
        )
        .unwrap();
        fs::write(dir.path().join("script.py"), "from h2o_wave import site\n").unwrap();
        assert!(module_uses_app_decorator(dir.path(), "pkg.app"));
        assert!(!module_uses_app_decorator(dir.path(), "script"));
    }
}
