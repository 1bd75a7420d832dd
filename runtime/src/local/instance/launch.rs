//! What each of an instance's two processes is started with: Qd and the app, their sandboxes,
//! command lines, environments and cgroup. Only what is listed here reaches them; nothing of
//! the server's own environment does.

use std::net::{Ipv4Addr, TcpListener};
use std::path::Path;

use super::Supervisor;
use crate::app_process::{self, AccessKey};
use crate::local::cgroup::{Cgroup, Limits};
use crate::local::prepare::Prepared;
use crate::local::process::Launch;
use crate::local::sandbox::{ENV_DIR, Sandbox};

/// Qd's port inside an instance's own network namespace (Wave's default).
pub(super) const QD_PORT: u16 = app_process::QD_PORT;
/// The app's port there (Wave's default for apps).
pub(super) const APP_PORT: u16 = app_process::APP_PORT;
/// Where Qd reads its keychain inside its sandbox (a file made in memory for it).
const KEYCHAIN_PATH: &str = "/etc/wave-keychain";

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
        let qd = app_process::Qd {
            waved: waved.to_owned(),
            www: www.to_owned(),
        };
        let env = app_process::qd_env(
            ENV_DIR,
            &self.spec.instance_id.to_string(),
            &format!("127.0.0.1:{port}"),
            &qd,
            KEYCHAIN_PATH,
        );
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
        let (python, args) = app_process::app_command(ENV_DIR, prepared.kind, &self.spec.module);
        let command = sandbox.command(&python, &args)?;
        let env = app_process::app_env(
            ENV_DIR,
            &app_process::Identity::of(&self.spec),
            &self.spec.env,
            prepared.kind,
            (qd_port, app_port),
            key,
        );
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

/// A free loopback port (for Qd and the app when they share the host's network).
pub(super) fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}
