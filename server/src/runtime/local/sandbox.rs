//! The bubblewrap command lines for Qd and the app.
//!
//! Inside: the host's system folders read-only, a few files of `/etc` (name resolution, TLS
//! roots), the Python interpreter the environment links to (read-only), the environment at
//! [`ENV_DIR`] (read-only), for the app its files at [`APP_DIR`] (read-only, the working
//! directory) and its volume (read-write), a private `/tmp`, fresh `/proc` and `/dev`. The server's
//! data directory, other instances and any secret file stay outside. The process runs as an
//! unprivileged user in its own user, pid and ipc namespaces (no capabilities; killing the
//! sandbox's init kills everything in it), in a new session, and dies with the server.
//! The network namespace is shared: Qd and the app talk over loopback ports.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Where the app's files appear.
pub(crate) const APP_DIR: &str = "/app";
/// Where the Python environment appears.
pub(crate) const ENV_DIR: &str = "/venv";
/// The uid/gid processes run as inside.
const SANDBOX_ID: &str = "1000";

/// Top-level host folders made visible read-only (as symlinks where the host has symlinks, as
/// on merged-`/usr` systems).
pub(crate) const SYSTEM_DIRS: &[&str] = &[
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
];
/// Files and folders of `/etc` that programs need for name resolution, TLS and time zones.
const ETC_ENTRIES: &[&str] = &[
    "/etc/resolv.conf",
    "/etc/hosts",
    "/etc/host.conf",
    "/etc/nsswitch.conf",
    "/etc/gai.conf",
    "/etc/services",
    "/etc/protocols",
    "/etc/mime.types",
    "/etc/ssl",
    "/etc/ca-certificates",
    "/etc/pki",
    "/etc/alternatives",
    "/etc/ld.so.cache",
    "/etc/localtime",
];

/// What one sandboxed process sees.
#[derive(Debug, Clone)]
pub(crate) struct Sandbox {
    bwrap: PathBuf,
    /// Extra read-only folders at their own path (the interpreter's prefix when it lives outside
    /// the system folders, e.g. under pyenv).
    extra_ro: Vec<PathBuf>,
    env_dir: PathBuf,
    app_dir: Option<PathBuf>,
    volume: Option<(PathBuf, String)>,
}

impl Sandbox {
    /// A sandbox showing the environment at `env_dir`.
    pub(crate) fn new(bwrap: &Path, env_dir: &Path, extra_ro: Vec<PathBuf>) -> Self {
        Sandbox {
            bwrap: bwrap.to_owned(),
            extra_ro,
            env_dir: env_dir.to_owned(),
            app_dir: None,
            volume: None,
        }
    }

    /// Shows the app's files at [`APP_DIR`], read-only, as the working directory.
    pub(crate) fn with_app(mut self, app_dir: &Path) -> Self {
        self.app_dir = Some(app_dir.to_owned());
        self
    }

    /// Shows `host` read-write at `mount`.
    pub(crate) fn with_volume(mut self, host: &Path, mount: &str) -> Self {
        self.volume = Some((host.to_owned(), mount.to_owned()));
        self
    }

    /// The `bwrap` program and its arguments, ending with `program args…`. The environment is
    /// not part of it: it goes to the bwrap process (cleared and set by the caller), so values
    /// never show on a command line.
    pub(crate) fn command(&self, program: &str, args: &[String]) -> (PathBuf, Vec<OsString>) {
        let mut a = Args::default();
        a.push(["--die-with-parent", "--new-session"]);
        a.push([
            "--unshare-user",
            "--unshare-pid",
            "--unshare-ipc",
            "--unshare-uts",
        ]);
        a.push(["--uid", SANDBOX_ID, "--gid", SANDBOX_ID]);
        a.push(["--hostname", "q8s"]);
        for dir in SYSTEM_DIRS {
            let path = Path::new(dir);
            match path.read_link() {
                Ok(target) => a.push_os(["--symlink".into(), target.into(), path.into()]),
                Err(_) if path.is_dir() => a.push(["--ro-bind", dir, dir]),
                Err(_) => {}
            }
        }
        for entry in ETC_ENTRIES {
            a.push(["--ro-bind-try", entry, entry]);
        }
        a.push([
            "--ro-bind-try",
            "/sys/devices/system/cpu",
            "/sys/devices/system/cpu",
        ]);
        a.push(["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]);
        for dir in &self.extra_ro {
            a.push_os(["--ro-bind".into(), dir.into(), dir.into()]);
        }
        a.push_os(["--ro-bind".into(), (&self.env_dir).into(), ENV_DIR.into()]);
        if let Some(volume) = &self.volume {
            a.push_os(["--bind".into(), (&volume.0).into(), (&volume.1).into()]);
        }
        match &self.app_dir {
            Some(app) => {
                a.push_os(["--ro-bind".into(), app.into(), APP_DIR.into()]);
                a.push(["--chdir", APP_DIR]);
            }
            None => a.push(["--chdir", "/tmp"]),
        }
        a.push(["--", program]);
        a.0.extend(args.iter().map(OsString::from));
        (self.bwrap.clone(), a.0)
    }
}

#[derive(Default)]
struct Args(Vec<OsString>);

impl Args {
    fn push<const N: usize>(&mut self, args: [&str; N]) {
        self.0.extend(args.iter().map(OsString::from));
    }

    fn push_os<const N: usize>(&mut self, args: [OsString; N]) {
        self.0.extend(args);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(args: &[OsString]) -> String {
        args.iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn the_app_sandbox_binds_app_env_and_volume_only() {
        let sandbox = Sandbox::new(
            Path::new("/usr/bin/bwrap"),
            Path::new("/data/envs/abc"),
            vec![PathBuf::from("/opt/python")],
        )
        .with_app(Path::new("/data/apps/123"))
        .with_volume(Path::new("/data/volumes/i"), "/data");
        let (program, args) = sandbox.command("/venv/bin/python", &["-m".into(), "x".into()]);
        assert_eq!(program, Path::new("/usr/bin/bwrap"));
        let line = text(&args);
        assert!(
            line.contains("--ro-bind /data/apps/123 /app --chdir /app"),
            "{line}"
        );
        assert!(line.contains("--ro-bind /data/envs/abc /venv"), "{line}");
        assert!(line.contains("--bind /data/volumes/i /data"), "{line}");
        assert!(line.contains("--ro-bind /opt/python /opt/python"), "{line}");
        assert!(line.contains("--die-with-parent"));
        assert!(line.ends_with("-- /venv/bin/python -m x"), "{line}");
        assert!(!line.contains("--bind / "), "the host root is never bound");
    }

    #[test]
    fn the_qd_sandbox_has_no_app_and_no_volume() {
        let sandbox = Sandbox::new(Path::new("bwrap"), Path::new("/e"), Vec::new());
        let line = text(&sandbox.command("/venv/waved", &[]).1);
        assert!(!line.contains("/app"));
        assert!(line.contains("--chdir /tmp"));
    }
}
