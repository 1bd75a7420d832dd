//! What each of an instance's two processes is started with: Qd and the app, their sandboxes,
//! command lines, environments and cgroup. Only what is listed here reaches them; nothing of
//! the server's own environment does.

use std::net::{Ipv4Addr, TcpListener};
use std::path::Path;

use super::Supervisor;
use super::keys::{AccessKey, KEYCHAIN_PATH};
use crate::local::cgroup::{Cgroup, Limits};
use crate::local::prepare::{AppKind, Prepared};
use crate::local::process::Launch;
use crate::local::sandbox::{ENV_DIR, Sandbox};

/// Qd's port inside an instance's own network namespace (Wave's default).
pub(super) const QD_PORT: u16 = 10101;
/// The app's port there (Wave's default for apps).
pub(super) const APP_PORT: u16 = 8000;

impl Supervisor {
    pub(super) fn qd_launch(
        &self,
        prepared: &Prepared,
        waved: &str,
        www: &str,
        port: u16,
        key: &AccessKey,
    ) -> std::io::Result<Launch> {
        // Qd sees the environment only: no app files, no volume, no secrets, and of its access
        // key only the hash, in its keychain.
        let keychain = key.keychain().map_err(std::io::Error::other)?;
        let mut sandbox = Sandbox::new(&self.shared.config.bwrap, &prepared.env_dir, Vec::new())
            .with_file(keychain.into_bytes(), KEYCHAIN_PATH);
        if !self.shared.isolation.seccomp {
            sandbox = sandbox.without_seccomp();
        }
        let command = sandbox.command(waved, &[])?;
        let env = base_env()
            .chain([
                ("H2O_WAVE_LISTEN".to_owned(), format!("127.0.0.1:{port}")),
                ("H2O_WAVE_WEB_DIR".to_owned(), www.to_owned()),
                ("H2O_WAVE_DATA_DIR".to_owned(), "/tmp/qd".to_owned()),
                (
                    "Q8S_INSTANCE_ID".to_owned(),
                    self.spec.instance_id.to_string(),
                ),
                (
                    "H2O_WAVE_ACCESS_KEYCHAIN".to_owned(),
                    KEYCHAIN_PATH.to_owned(),
                ),
            ])
            .collect();
        Ok(Launch::new("Qd", command, env))
    }

    pub(super) fn app_launch(
        &self,
        prepared: &Prepared,
        sandbox: &Sandbox,
        qd_port: u16,
        app_port: u16,
        key: &AccessKey,
    ) -> std::io::Result<Launch> {
        let module = self.spec.module.clone();
        let python = format!("{ENV_DIR}/bin/python");
        let args: Vec<String> = match prepared.kind {
            AppKind::WaveApp => [
                "-m",
                "h2o_wave",
                "run",
                "--no-reload",
                "--no-autostart",
                &module,
            ]
            .map(str::to_owned)
            .to_vec(),
            AppKind::WaveScript | AppKind::Plain => vec!["-m".into(), module],
        };
        let command = sandbox.command(&python, &args)?;
        let spec = &self.spec;
        let mut env: Vec<(String, String)> = base_env().collect();
        env.extend(spec.env.iter().cloned());
        env.extend([
            ("VIRTUAL_ENV".to_owned(), ENV_DIR.to_owned()),
            ("Q8S_INSTANCE_ID".to_owned(), spec.instance_id.to_string()),
            ("Q8S_APP_ID".to_owned(), spec.app_id.to_string()),
            ("Q8S_APP_NAME".to_owned(), spec.app_name.clone()),
            ("Q8S_APP_VERSION".to_owned(), spec.app_version.clone()),
            ("Q8S_INSTANCE_URL".to_owned(), spec.instance_url.clone()),
            ("PORT".to_owned(), app_port.to_string()),
        ]);
        if prepared.kind != AppKind::Plain {
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
        Ok(Launch::new("app", command, env))
    }

    pub(super) fn sandbox(
        &self,
        prepared: &Prepared,
        own_network: bool,
        volume: Option<&Path>,
    ) -> Result<Sandbox, String> {
        let extra = prepared
            .python_prefix
            .iter()
            .chain(&self.shared.config.sandbox_paths)
            .cloned()
            .collect();
        let mut sandbox = Sandbox::new(&self.shared.config.bwrap, &prepared.env_dir, extra)
            .with_app(&prepared.app_dir)
            .with_slirp_dns(own_network && self.shared.isolation.outbound);
        if !self.shared.isolation.seccomp {
            sandbox = sandbox.without_seccomp();
        }
        if let (Some(mount), Some(dir)) = (&self.spec.volume_mount, volume) {
            sandbox = sandbox.with_volume(dir, mount);
        }
        Ok(sandbox)
    }

    pub(super) fn cgroup(&self) -> Option<Cgroup> {
        let limits = Limits {
            memory: self.spec.memory_limit,
            pids: self.shared.config.max_pids,
        };
        let cgroups = &self.shared.cgroups;
        cgroups.instance(self.spec.instance_id, &limits, &self.handle.log)
    }
}

/// What every sandboxed process gets; nothing of the server's own environment.
fn base_env() -> impl Iterator<Item = (String, String)> {
    [
        ("PATH", "/venv/bin:/usr/local/bin:/usr/bin:/bin"),
        ("HOME", "/tmp"),
        ("TMPDIR", "/tmp"),
        ("LANG", "C.UTF-8"),
        ("TZ", "UTC"),
        ("PYTHONUNBUFFERED", "1"),
        ("PYTHONDONTWRITEBYTECODE", "1"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
}

/// A free loopback port (for Qd and the app when they share the host's network).
pub(super) fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}
