//! The bubblewrap command lines for Qd, the app and the environment's install.
//!
//! Inside: the host's system folders read-only, the files of `/etc` of [`ETC_ENTRIES`] (name
//! resolution, TLS roots, time zones, locales, fonts, Java) and the admin's `--sandbox-paths`,
//! the Python interpreter the environment links to (read-only), the environment at
//! [`ENV_DIR`] (read-only, writable only while the install builds it), for the app its files at
//! [`APP_DIR`] (read-only, the working directory) and its volume (read-write), a private `/tmp`,
//! fresh `/proc` and `/dev`. The server's data directory, other instances and any secret file
//! stay outside. The process runs as uid 1000 in its own user, pid, ipc and uts namespaces (no
//! capabilities; killing the sandbox's init kills everything in it), in a new session, under the
//! seccomp filter of [`super::seccomp`], and dies with the server. The network namespace is the
//! instance's own (joined before bubblewrap starts, see [`super::network`]): Qd and the app talk
//! over its loopback.

use std::ffi::OsString;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use super::network::SLIRP_DNS;
use super::seccomp;

/// Where the app's files appear.
pub(crate) const APP_DIR: &str = "/app";
/// Where the Python environment appears.
pub(crate) const ENV_DIR: &str = crate::app_process::ENV_DIR;
/// Where the install sees its owner's folder: the package cache, the environment being built
/// and a scratch copy of the app's files, on one mount so that uv can hard-link from its cache.
pub(crate) const OWNER_DIR: &str = "/owner";
/// Where tools the server brings (uv) appear.
pub(crate) const TOOLS_DIR: &str = "/q8s";
/// The uid/gid processes run as inside.
const SANDBOX_ID: &str = "1000";

/// Top-level host folders made visible read-only (as symlinks where the host has symlinks, as
/// on merged-`/usr` systems).
pub(crate) const SYSTEM_DIRS: &[&str] = &[
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
];
/// Files and folders of `/etc` every sandbox sees, read-only, where the host has them (the
/// list of `docs/runtime.md`, "What a sandbox sees"; `--sandbox-paths` adds more). A last
/// component ending in `*` matches the names that start with the text before it.
pub(crate) const ETC_ENTRIES: &[&str] = &[
    // Name resolution and network databases.
    "/etc/resolv.conf",
    "/etc/hosts",
    "/etc/host.conf",
    "/etc/nsswitch.conf",
    "/etc/gai.conf",
    "/etc/services",
    "/etc/protocols",
    // TLS roots (Java's keystore is /etc/ssl/certs/java).
    "/etc/ssl",
    "/etc/ca-certificates",
    "/etc/pki",
    // The dynamic linker's cache; Debian's alternatives (`java`, `python3`, …).
    "/etc/ld.so.cache",
    "/etc/alternatives",
    // Time zones, locales, MIME types.
    "/etc/localtime",
    "/etc/timezone",
    "/etc/locale.alias",
    "/etc/default/locale",
    "/etc/mime.types",
    // Fonts: fontconfig's configuration (matplotlib, Pillow, headless browsers).
    "/etc/fonts",
    // Java runtimes: Debian keeps each JDK's conf/ and security/ here (`/etc/java-17-openjdk`).
    "/etc/java-*",
];

/// `/etc/passwd` and `/etc/group` inside: the sandbox user has a name and a home (`/tmp`), as
/// programs that look themselves up (`getpass.getuser()`, the JVM's `user.home`) expect.
const PASSWD: &str = "app:x:1000:1000:q8s app:/tmp:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";
const GROUP: &str = "app:x:1000:\nnogroup:x:65534:\n";

/// What one sandboxed process sees.
#[derive(Debug, Clone)]
pub(crate) struct Sandbox {
    bwrap: PathBuf,
    /// Extra read-only folders at their own path (the interpreter's prefix when it lives outside
    /// the system folders, e.g. under pyenv).
    extra_ro: Vec<PathBuf>,
    env_dir: Option<PathBuf>,
    app_dir: Option<PathBuf>,
    volume: Option<(PathBuf, String)>,
    /// The install's owner folder and the working directory inside it.
    owner: Option<(PathBuf, String)>,
    /// The environment an install builds, writable at [`ENV_DIR`]: where instances will see
    /// it, so the paths compiled into its bytecode (and tracebacks) are the right ones.
    build: Option<PathBuf>,
    tools: Vec<(PathBuf, String)>,
    /// Files made for this sandbox: their bytes and where they show, read-only.
    files: Vec<(Vec<u8>, String)>,
    slirp_dns: bool,
    seccomp: bool,
}

/// A bubblewrap command line and the descriptors it reads (kept open until it has started).
pub(crate) struct BwrapCommand {
    pub(crate) program: PathBuf,
    pub(crate) args: Vec<OsString>,
    pub(crate) fds: Vec<OwnedFd>,
}

impl Sandbox {
    /// A sandbox showing the environment at `env_dir`, read-only.
    pub(crate) fn new(bwrap: &Path, env_dir: &Path, extra_ro: Vec<PathBuf>) -> Self {
        Sandbox {
            bwrap: bwrap.to_owned(),
            extra_ro,
            env_dir: Some(env_dir.to_owned()),
            app_dir: None,
            volume: None,
            owner: None,
            build: None,
            tools: Vec::new(),
            files: Vec::new(),
            slirp_dns: false,
            seccomp: true,
        }
    }

    /// Shows the app's files at [`APP_DIR`], read-only, as the working directory.
    pub(crate) fn with_app(mut self, app_dir: &Path) -> Self {
        self.app_dir = Some(app_dir.to_owned());
        self
    }

    /// The install's view: no app files, the owner's folder writable at [`OWNER_DIR`]
    /// (package cache, a scratch copy of the app's files as the working directory `workdir` —
    /// build backends write into source trees), the environment being built (`build`, a
    /// folder of the owner's) writable at [`ENV_DIR`], and `uv` at [`TOOLS_DIR`]`/uv`.
    pub(crate) fn install(
        bwrap: &Path,
        extra_ro: Vec<PathBuf>,
        owner_dir: &Path,
        workdir: &str,
        build: &Path,
        uv: &Path,
    ) -> Self {
        Sandbox {
            bwrap: bwrap.to_owned(),
            extra_ro,
            env_dir: None,
            app_dir: None,
            volume: None,
            owner: Some((owner_dir.to_owned(), format!("{OWNER_DIR}/{workdir}"))),
            build: Some(build.to_owned()),
            tools: vec![(uv.to_owned(), format!("{TOOLS_DIR}/uv"))],
            files: Vec::new(),
            slirp_dns: false,
            seccomp: true,
        }
    }

    /// Shows a file holding `bytes` at `path`, read-only (from memory: nothing on the host's
    /// disk holds it).
    pub(crate) fn with_file(mut self, bytes: Vec<u8>, path: &str) -> Self {
        self.files.push((bytes, path.to_owned()));
        self
    }

    /// Shows `host` read-write at `mount`.
    pub(crate) fn with_volume(mut self, host: &Path, mount: &str) -> Self {
        self.volume = Some((host.to_owned(), mount.to_owned()));
        self
    }

    /// Names slirp4netns's DNS forwarder in `/etc/resolv.conf` (instances with their own
    /// network and outbound traffic: the host's resolver may be on its loopback, out of reach).
    pub(crate) fn with_slirp_dns(mut self, on: bool) -> Self {
        self.slirp_dns = on;
        self
    }

    /// Leaves the seccomp filter out (only where it cannot be compiled; said in the log).
    pub(crate) fn without_seccomp(mut self) -> Self {
        self.seccomp = false;
        self
    }

    /// The `bwrap` program and its arguments, ending with `program args…`. The environment is
    /// not part of it: it goes to the bwrap process (cleared and set by the caller), so values
    /// never show on a command line.
    pub(crate) fn command(&self, program: &str, args: &[String]) -> io::Result<BwrapCommand> {
        let mut a = Args::default();
        let mut fds = Vec::new();
        a.push(["--die-with-parent", "--new-session"]);
        a.push([
            "--unshare-user",
            "--unshare-pid",
            "--unshare-ipc",
            "--unshare-uts",
            "--unshare-cgroup-try",
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
        for entry in ETC_ENTRIES.iter().flat_map(|entry| expand(entry)) {
            if entry == "/etc/resolv.conf" && self.slirp_dns {
                let fd = memfd_with(format!("nameserver {SLIRP_DNS}\n").as_bytes())?;
                a.push_os([
                    "--ro-bind-data".into(),
                    fd.as_raw_fd().to_string().into(),
                    entry.into(),
                ]);
                fds.push(fd);
                continue;
            }
            a.push(["--ro-bind-try", &entry, &entry]);
        }
        for (text, path) in [(PASSWD, "/etc/passwd"), (GROUP, "/etc/group")] {
            let fd = memfd_with(text.as_bytes())?;
            a.push_os([
                "--ro-bind-data".into(),
                fd.as_raw_fd().to_string().into(),
                path.into(),
            ]);
            fds.push(fd);
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
        if let Some(env) = &self.env_dir {
            a.push_os(["--ro-bind".into(), env.into(), ENV_DIR.into()]);
        }
        for (host, inside) in &self.tools {
            a.push_os(["--ro-bind".into(), host.into(), inside.into()]);
        }
        for (bytes, path) in &self.files {
            let fd = memfd_with(bytes)?;
            a.push_os([
                "--ro-bind-data".into(),
                fd.as_raw_fd().to_string().into(),
                path.into(),
            ]);
            fds.push(fd);
        }
        if let Some(volume) = &self.volume {
            a.push_os(["--bind".into(), (&volume.0).into(), (&volume.1).into()]);
        }
        match (&self.app_dir, &self.owner) {
            (Some(app), _) => {
                a.push_os(["--ro-bind".into(), app.into(), APP_DIR.into()]);
                a.push(["--chdir", APP_DIR]);
            }
            (None, Some((owner, workdir))) => {
                a.push_os(["--bind".into(), owner.into(), OWNER_DIR.into()]);
                if let Some(build) = &self.build {
                    a.push_os(["--bind".into(), build.into(), ENV_DIR.into()]);
                }
                a.push_os(["--chdir".into(), workdir.into()]);
            }
            (None, None) => a.push(["--chdir", "/tmp"]),
        }
        if self.seccomp {
            for fd in seccomp::filter_fds()? {
                a.push_os(["--add-seccomp-fd".into(), fd.as_raw_fd().to_string().into()]);
                fds.push(fd);
            }
        }
        a.push(["--", program]);
        a.0.extend(args.iter().map(OsString::from));
        Ok(BwrapCommand {
            program: self.bwrap.clone(),
            args: a.0,
            fds,
        })
    }
}

/// `entry`, or when its last component ends in `*`, the host's entries it matches (sorted).
fn expand(entry: &str) -> Vec<String> {
    let Some(prefix) = entry.strip_suffix('*') else {
        return vec![entry.to_owned()];
    };
    let (dir, start) = prefix.rsplit_once('/').unwrap_or(("", prefix));
    let mut found: Vec<String> = std::fs::read_dir(if dir.is_empty() { "/" } else { dir })
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|name| name.starts_with(start))
        .map(|name| format!("{dir}/{name}"))
        .collect();
    found.sort();
    found
}

/// A descriptor holding `bytes`, positioned at their start (for bubblewrap's `--*-data`/seccomp
/// options, which read it once).
pub(crate) fn memfd_with(bytes: &[u8]) -> io::Result<OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: a plain syscall with a valid C string; the result is checked.
    let fd = unsafe { libc::memfd_create(c"q8s".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just created and is owned by nobody else.
    let mut file = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    file.write_all(bytes)?;
    io::Seek::seek(&mut file, io::SeekFrom::Start(0))?;
    Ok(OwnedFd::from(file))
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
        let command = sandbox
            .command("/venv/bin/python", &["-m".into(), "x".into()])
            .unwrap();
        assert_eq!(command.program, Path::new("/usr/bin/bwrap"));
        assert_eq!(
            command.fds.len(),
            4,
            "passwd, group and the seccomp filters"
        );
        let line = text(&command.args);
        assert!(line.contains("--add-seccomp-fd"), "{line}");
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
        let line = text(&sandbox.command("/venv/waved", &[]).unwrap().args);
        assert!(!line.contains("/app"));
        assert!(line.contains("--chdir /tmp"));
    }

    #[test]
    fn a_trailing_star_lists_the_hosts_matching_entries() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["java-17-openjdk", "java-21-openjdk", "javascript", "fonts"] {
            std::fs::create_dir(dir.path().join(name)).unwrap();
        }
        let root = dir.path().display();
        assert_eq!(
            expand(&format!("{root}/java-*")),
            [
                format!("{root}/java-17-openjdk"),
                format!("{root}/java-21-openjdk")
            ]
        );
        assert_eq!(expand("/etc/fonts"), ["/etc/fonts"]);
        assert!(expand(&format!("{root}/none-*")).is_empty());
    }
}
