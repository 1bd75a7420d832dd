//! What an instance's processes are: how its environment is installed (uv's arguments and
//! environment, the constraint rules applied until none is new), which kind of app it is, and
//! the command lines and environment variables Qd and the app start with. One place for both
//! runtimes: the local runtime runs these in its sandboxes, the Kubernetes runtime's launcher
//! (`q8s-launcher`, [`crate::launcher`]) in the pod — so an app sees the same variables
//! wherever it runs.

use std::fs;
use std::path::{Path, PathBuf};

use q8s_core::constraints::{Constraints, Rule};

/// Where instances see their environment: the sandbox's `/venv`, the pod's `/venv`.
pub const ENV_DIR: &str = "/venv";
/// Where instances see their app's files.
pub const APP_DIR: &str = "/app";
/// Qd's port (Wave's default); the port a pod serves on.
pub const QD_PORT: u16 = 10101;
/// The app's port (Wave's default for apps).
pub const APP_PORT: u16 = 8000;

/// How the app runs, decided from its environment and module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppKind {
    /// An `@app` Wave module: Qd plus `python -m h2o_wave run <module>`; upstream Qd.
    WaveApp,
    /// A Wave script without `@app`: Qd plus `python -m <module>`; upstream Qd.
    WaveScript,
    /// No Wave: `python -m <module>` serving HTTP on `$PORT`; upstream the app.
    Plain,
}

/// Qd and its web folder, as the instance sees them (under `venv`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Qd {
    /// The `waved` program.
    pub waved: String,
    /// Its web folder.
    pub www: String,
}

/// The app's kind, and Qd when the environment at `env_dir` (seen at `venv` by the instance)
/// has Wave.
pub fn app_kind(env_dir: &Path, app_dir: &Path, module: &str, venv: &str) -> (AppKind, Option<Qd>) {
    let qd = find_waved(env_dir, venv);
    let kind = match &qd {
        None => AppKind::Plain,
        Some(_) if module_uses_app_decorator(app_dir, module) => AppKind::WaveApp,
        Some(_) => AppKind::WaveScript,
    };
    (kind, qd)
}

fn find_waved(env_dir: &Path, venv: &str) -> Option<Qd> {
    let waved = ["waved", "bin/waved"]
        .into_iter()
        .find(|p| env_dir.join(p).is_file())?;
    let www = ["www", "share/wave/www"]
        .into_iter()
        .find(|p| env_dir.join(p).is_dir())?;
    Some(Qd {
        waved: format!("{venv}/{waved}"),
        www: format!("{venv}/{www}"),
    })
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

/// Who an instance is: the `Q8S_*` variables its app gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// `Q8S_INSTANCE_ID`.
    pub instance_id: String,
    /// `Q8S_APP_ID`.
    pub app_id: String,
    /// `Q8S_APP_NAME`.
    pub app_name: String,
    /// `Q8S_APP_VERSION`.
    pub app_version: String,
    /// `Q8S_INSTANCE_URL`.
    pub instance_url: String,
}

impl Identity {
    /// The identity of `spec`'s instance.
    pub fn of(spec: &crate::InstanceSpec) -> Identity {
        Identity {
            instance_id: spec.instance_id.to_string(),
            app_id: spec.app_id.to_string(),
            app_name: spec.app_name.clone(),
            app_version: spec.app_version.clone(),
            instance_url: spec.instance_url.clone(),
        }
    }
}

/// What every instance process gets, with its environment at `venv`; nothing else of the
/// runtime's own environment.
pub fn base_env(venv: &str) -> Vec<(String, String)> {
    [
        ("PATH", format!("{venv}/bin:/usr/local/bin:/usr/bin:/bin")),
        ("HOME", "/tmp".into()),
        ("TMPDIR", "/tmp".into()),
        ("LANG", "C.UTF-8".into()),
        ("TZ", "UTC".into()),
        ("PYTHONUNBUFFERED", "1".into()),
        ("PYTHONDONTWRITEBYTECODE", "1".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// The Wave access key an instance's app and its Qd share.
///
/// Qd checks the key on every request the app sends it (each `page.save()` is one) against a
/// bcrypt hash. Given the secret itself (`H2O_WAVE_ACCESS_KEY_SECRET`), Qd hashes it at
/// bcrypt's default cost (10) as it starts and checks the app's first request against that
/// hash: about 70 ms of CPU each on this machine kind. The cost factor slows the guessing of
/// passwords people choose; this secret is 122 random bits, which no guessing reaches at any
/// cost. So Qd gets a keychain ([`AccessKey::keychain`], named by
/// `H2O_WAVE_ACCESS_KEYCHAIN`) holding the secret's hash at bcrypt's lowest cost, and never
/// sees the secret.
#[derive(Clone)]
pub struct AccessKey {
    /// `H2O_WAVE_ACCESS_KEY_ID`.
    pub id: String,
    /// `H2O_WAVE_ACCESS_KEY_SECRET` (the app's only).
    pub secret: String,
}

/// bcrypt's lowest cost (2⁴ rounds of its key setup).
const KEYCHAIN_COST: u32 = 4;

impl AccessKey {
    /// A new random key (ids and secrets of 32 hex digits).
    pub fn new() -> Self {
        AccessKey {
            id: uuid::Uuid::new_v4().simple().to_string(),
            secret: uuid::Uuid::new_v4().simple().to_string(),
        }
    }

    /// Qd's keychain file holding this key: `<id>:<bcrypt hash of the secret>`.
    pub fn keychain(&self) -> Result<String, String> {
        let hash = bcrypt::hash_with_result(&self.secret, KEYCHAIN_COST)
            .map_err(|e| format!("hashing the Wave access key: {e}"))?
            .format_for_version(bcrypt::Version::TwoA);
        Ok(format!("{}:{hash}\n", self.id))
    }
}

impl Default for AccessKey {
    fn default() -> Self {
        Self::new()
    }
}

/// Qd's environment: listening on `listen`, serving `qd.www`, its access key in the keychain
/// file at `keychain` ([`AccessKey::keychain`]).
pub fn qd_env(
    venv: &str,
    instance_id: &str,
    listen: &str,
    qd: &Qd,
    keychain: &str,
) -> Vec<(String, String)> {
    let mut env = base_env(venv);
    env.extend([
        ("H2O_WAVE_LISTEN".to_owned(), listen.to_owned()),
        ("H2O_WAVE_WEB_DIR".to_owned(), qd.www.clone()),
        ("H2O_WAVE_DATA_DIR".to_owned(), "/tmp/qd".to_owned()),
        ("Q8S_INSTANCE_ID".to_owned(), instance_id.to_owned()),
        ("H2O_WAVE_ACCESS_KEYCHAIN".to_owned(), keychain.to_owned()),
    ]);
    env
}

/// The app's interpreter and arguments: `python -m h2o_wave run … <module>` for `@app`
/// modules, `python -m <module>` otherwise.
pub fn app_command(venv: &str, kind: AppKind, module: &str) -> (String, Vec<String>) {
    let python = format!("{venv}/bin/python");
    let args = match kind {
        AppKind::WaveApp => [
            "-m",
            "h2o_wave",
            "run",
            "--no-reload",
            "--no-autostart",
            module,
        ]
        .map(str::to_owned)
        .to_vec(),
        AppKind::WaveScript | AppKind::Plain => vec!["-m".into(), module.to_owned()],
    };
    (python, args)
}

/// The app's environment: the base, the app's `[[Env]]` (`user_env`), the instance's identity,
/// `PORT`, and for Wave apps where Qd is (`qd_port` on loopback) and the access key.
pub fn app_env(
    venv: &str,
    identity: &Identity,
    user_env: &[(String, String)],
    kind: AppKind,
    (qd_port, app_port): (u16, u16),
    key: &AccessKey,
) -> Vec<(String, String)> {
    let mut env = base_env(venv);
    env.extend(user_env.iter().cloned());
    env.extend([
        ("VIRTUAL_ENV".to_owned(), venv.to_owned()),
        ("Q8S_INSTANCE_ID".to_owned(), identity.instance_id.clone()),
        ("Q8S_APP_ID".to_owned(), identity.app_id.clone()),
        ("Q8S_APP_NAME".to_owned(), identity.app_name.clone()),
        ("Q8S_APP_VERSION".to_owned(), identity.app_version.clone()),
        ("Q8S_INSTANCE_URL".to_owned(), identity.instance_url.clone()),
        ("PORT".to_owned(), app_port.to_string()),
    ]);
    if kind != AppKind::Plain {
        env.extend([
            (
                "H2O_WAVE_ADDRESS".to_owned(),
                format!("http://127.0.0.1:{qd_port}"),
            ),
            (
                "H2O_WAVE_APP_ADDRESS".to_owned(),
                format!("http://127.0.0.1:{app_port}"),
            ),
            ("H2O_WAVE_ACCESS_KEY_ID".to_owned(), key.id.clone()),
            ("H2O_WAVE_ACCESS_KEY_SECRET".to_owned(), key.secret.clone()),
            // Some `wave run` versions ignore `--no-autostart` and start a Qd of their own.
            ("H2O_WAVE_NO_AUTOSTART".to_owned(), "true".to_owned()),
        ]);
    }
    env
}

/// Settings of the runtime's environment that say how packages are fetched (an index mirror,
/// a proxy, the CA bundle of a TLS-inspecting network): passed on to installs, the rest of its
/// environment is not.
pub const PASSED_TO_INSTALLS: &[&str] = &[
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

/// The install's environment: what uv needs (its cache at `cache_dir`), and of the runtime's
/// own only [`PASSED_TO_INSTALLS`].
pub fn install_env(cache_dir: &str) -> Vec<(String, String)> {
    let passed = PASSED_TO_INSTALLS
        .iter()
        .filter_map(|name| Some(((*name).to_owned(), std::env::var(name).ok()?)));
    [
        ("PATH", "/usr/local/bin:/usr/bin:/bin"),
        ("HOME", "/tmp"),
        ("TMPDIR", "/tmp"),
        ("LANG", "C.UTF-8"),
        ("UV_CACHE_DIR", cache_dir),
        ("UV_NO_PROGRESS", "1"),
        ("UV_PYTHON_DOWNLOADS", "never"),
        // Makes `py_compile` write checked-hash `.pyc` files (the source's hash, not its
        // mtime): identical inputs give identical environments. 1980-01-01, as in bundles.
        ("SOURCE_DATE_EPOCH", "315532800"),
        ("NO_COLOR", "1"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .chain(passed)
    .collect()
}

/// `uv venv …`: a relocatable environment at `venv` for `python`.
pub fn venv_args(python: &str, venv: &str) -> Vec<String> {
    [
        "venv",
        "--relocatable",
        "--quiet",
        "--allow-existing",
        "--python",
        python,
        venv,
    ]
    .map(str::to_owned)
    .to_vec()
}

/// `uv pip install -r requirements.txt` into the environment of `python`, with bytecode, and
/// the constraints file when there is one.
pub fn pip_install_args(python: &str, constraints: Option<&str>) -> Vec<String> {
    let mut args: Vec<String> = [
        "pip",
        "install",
        "--requirement",
        "requirements.txt",
        "--python",
        python,
        // Bytecode now, once: the environment is read-only where instances run, so without it
        // every start compiles every module it imports from source.
        "--compile-bytecode",
    ]
    .map(str::to_owned)
    .to_vec();
    if let Some(file) = constraints {
        args.extend(["--constraint".to_owned(), file.to_owned()]);
    }
    args
}

/// The text of a constraints file holding the pins of `rules`.
pub fn constraints_text(rules: &[&Rule]) -> String {
    let mut text = String::from("# q8s: known-good bounds (docs/runtime.md)\n");
    for rule in rules {
        text.push_str(&format!("# {}\n", rule.why));
        for pin in &rule.pins {
            text.push_str(pin);
            text.push('\n');
        }
    }
    text
}

/// The constraint rules of one install, applied in rounds: the rules for every environment
/// first, then after each install those matching what the environment resolved to, until no
/// new rule applies (a pin may change what resolves; each rule is added once). The caller
/// installs with [`ConstraintRounds::applied`] and asks [`ConstraintRounds::again`].
pub struct ConstraintRounds<'c> {
    constraints: &'c Constraints,
    applied: Vec<&'c Rule>,
}

impl<'c> ConstraintRounds<'c> {
    /// The first round: the rules for every environment, each said by `note`.
    pub fn start(constraints: &'c Constraints, note: impl Fn(&str)) -> Self {
        let applied = constraints.unconditional();
        for rule in &applied {
            note(&format!(
                "constraint for every environment: {rule} ({})",
                rule.why
            ));
        }
        ConstraintRounds {
            constraints,
            applied,
        }
    }

    /// The rules the next install applies.
    pub fn applied(&self) -> &[&'c Rule] {
        &self.applied
    }

    /// After an install into `env_dir`: whether rules it did not apply match what it holds
    /// (then they are added, each said by `note`, and the caller installs again).
    pub fn again(&mut self, env_dir: &Path, note: impl Fn(&str)) -> bool {
        let installed = installed_distributions(env_dir);
        let matching = self
            .constraints
            .for_installed(installed.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        let new: Vec<&Rule> = matching
            .into_iter()
            .filter(|rule| !self.applied.iter().any(|a| std::ptr::eq(*a, *rule)))
            .collect();
        for rule in &new {
            note(&format!(
                "the environment has {}: installing again with {} ({}; see docs/runtime.md)",
                describe_match(rule, &installed),
                rule.pins.join(", "),
                rule.why
            ));
        }
        let more = !new.is_empty();
        self.applied.extend(new);
        more
    }
}

/// The distributions installed in the environment at `env_dir`, as `(name, version)` from the
/// names of its `*.dist-info` folders.
pub fn installed_distributions(env_dir: &Path) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let lib = env_dir.join("lib");
    for python in fs::read_dir(&lib).into_iter().flatten().flatten() {
        let packages = python.path().join("site-packages");
        for entry in fs::read_dir(&packages).into_iter().flatten().flatten() {
            let name = entry.file_name();
            let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".dist-info")) else {
                continue;
            };
            if let Some((name, version)) = stem.split_once('-') {
                found.push((name.to_owned(), version.to_owned()));
            }
        }
    }
    found.sort();
    found
}

/// `h2o-wave 0.26.3`: the installed distribution that `rule` matched.
fn describe_match(rule: &Rule, installed: &[(String, String)]) -> String {
    let Some(range) = &rule.when else {
        return "any package".to_owned();
    };
    installed
        .iter()
        .find(|(name, _)| q8s_core::constraints::normalize(name) == range.package)
        .map_or_else(
            || range.to_string(),
            |(_, version)| format!("{} {version}", range.package),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

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
        // No Wave in the environment: a plain app.
        assert_eq!(
            app_kind(dir.path(), dir.path(), "pkg.app", ENV_DIR),
            (AppKind::Plain, None)
        );
        fs::create_dir_all(dir.path().join("www")).unwrap();
        fs::write(dir.path().join("waved"), "").unwrap();
        let (kind, qd) = app_kind(dir.path(), dir.path(), "pkg.app", "/v");
        assert_eq!(kind, AppKind::WaveApp);
        assert_eq!(qd.unwrap().waved, "/v/waved");
    }

    #[test]
    fn distributions_come_from_dist_info_folders() {
        let env = tempfile::tempdir().unwrap();
        let packages = env.path().join("lib/python3.11/site-packages");
        for dir in [
            "h2o_wave-0.26.3.dist-info",
            "starlette-0.52.1.dist-info",
            "h2o_wave",
            "x.pth",
        ] {
            fs::create_dir_all(packages.join(dir)).unwrap();
        }
        let found = installed_distributions(env.path());
        assert_eq!(
            found,
            [
                ("h2o_wave".to_owned(), "0.26.3".to_owned()),
                ("starlette".to_owned(), "0.52.1".to_owned())
            ]
        );
        let rules = Constraints::builtin();
        let rule = rules.for_version("h2o-wave", "0.26.3")[0];
        assert_eq!(describe_match(rule, &found), "h2o-wave 0.26.3");
        let text = constraints_text(&[rule]);
        assert!(text.lines().any(|l| l == "starlette<1"), "{text}");
    }

    #[test]
    fn wave_apps_get_qd_s_address_and_keys_and_plain_apps_do_not() {
        let identity = Identity {
            instance_id: "i".into(),
            app_id: "a".into(),
            app_name: "n".into(),
            app_version: "1".into(),
            instance_url: "http://i.localhost/".into(),
        };
        let keys = AccessKey {
            id: "k".to_owned(),
            secret: "s".to_owned(),
        };
        let user = [("GREETING".to_owned(), "hi".to_owned())];
        let wave = app_env(
            "/venv",
            &identity,
            &user,
            AppKind::WaveApp,
            (10101, 8000),
            &keys,
        );
        let get = |env: &[(String, String)], k: &str| {
            env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
        };
        assert_eq!(
            get(&wave, "H2O_WAVE_ADDRESS").unwrap(),
            "http://127.0.0.1:10101"
        );
        assert_eq!(get(&wave, "GREETING").unwrap(), "hi");
        assert_eq!(get(&wave, "PORT").unwrap(), "8000");
        assert_eq!(get(&wave, "H2O_WAVE_ACCESS_KEY_SECRET").unwrap(), "s");
        let plain = app_env(
            "/venv",
            &identity,
            &user,
            AppKind::Plain,
            (10101, 8000),
            &keys,
        );
        assert_eq!(get(&plain, "H2O_WAVE_ACCESS_KEY_ID"), None);
        assert_eq!(
            get(&plain, "Q8S_INSTANCE_URL").unwrap(),
            "http://i.localhost/"
        );
    }

    #[test]
    fn qd_gets_a_cheap_hash_of_the_secret_and_never_the_secret() {
        let key = AccessKey::new();
        let keychain = key.keychain().unwrap();
        let (id, hash) = keychain.trim_end().split_once(':').unwrap();
        assert_eq!(id, key.id);
        assert!(hash.starts_with("$2a$04$"), "{hash}");
        assert!(!keychain.contains(&key.secret));
        assert!(bcrypt::verify(&key.secret, hash).unwrap());
        assert!(!bcrypt::verify(AccessKey::new().secret, hash).unwrap());
        let qd = Qd {
            waved: "/venv/waved".into(),
            www: "/venv/www".into(),
        };
        let env = qd_env("/venv", "i", "127.0.0.1:10101", &qd, "/etc/wave-keychain");
        assert!(
            env.iter()
                .any(|(k, v)| k == "H2O_WAVE_ACCESS_KEYCHAIN" && v == "/etc/wave-keychain")
        );
        assert!(
            !env.iter()
                .any(|(k, _)| k.starts_with("H2O_WAVE_ACCESS_KEY_"))
        );
    }
}
