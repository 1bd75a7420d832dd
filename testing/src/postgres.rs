//! A throw-away PostgreSQL for tests: ONE cluster per test process, started on first use
//! (`initdb` and `postgres` from Debian's `postgresql`, as the unprivileged `postgres` user
//! when the tests run as root) in a temporary folder with `fsync=off`, listening on a free
//! loopback port; each test gets a database of its own from [`fresh_database`]
//! (`CREATE DATABASE`, milliseconds).
//!
//! The cluster goes away with the test process however it ends: a shell beside `postgres`
//! waits on a pipe whose only writer is this process, then stops the server and removes the
//! folder. Without PostgreSQL installed, a test that asks for it FAILS saying how to install
//! it (`scripts/setup.sh server`): tests are never skipped in silence.

use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The cluster of this test process.
struct Cluster {
    port: u16,
    bin: PathBuf,
    /// Closing it (when the process exits) stops the cluster; never written.
    _lifeline: ChildStdin,
}

static CLUSTER: OnceLock<Cluster> = OnceLock::new();
static NEXT: AtomicU32 = AtomicU32::new(0);

/// A new, empty database on this process's cluster (started on first use), as a URL
/// `postgres://postgres@127.0.0.1:<port>/<name>`.
pub fn fresh_database() -> String {
    let cluster = CLUSTER.get_or_init(start);
    let name = format!(
        "q8s_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    cluster.psql(&format!("CREATE DATABASE {name}"));
    format!("postgres://postgres@127.0.0.1:{}/{name}", cluster.port)
}

/// The folder of PostgreSQL's server programs: the one holding `initdb` on PATH, else the
/// newest `/usr/lib/postgresql/<version>/bin` (Debian keeps them off PATH).
fn bin_dir() -> PathBuf {
    let on_path = std::env::var_os("PATH").into_iter().flat_map(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("initdb"))
            .collect::<Vec<_>>()
    });
    let debian = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| {
            let mut dirs: Vec<PathBuf> = entries
                .flatten()
                .map(|e| e.path().join("bin/initdb"))
                .collect();
            dirs.sort_by_key(|d| {
                d.parent()
                    .and_then(Path::parent)
                    .and_then(|v| v.file_name()?.to_str()?.parse::<u32>().ok())
            });
            dirs.reverse();
            dirs
        })
        .unwrap_or_default();
    // The real programs: a copy of `initdb` elsewhere does not find `postgres` beside it.
    let found = debian
        .into_iter()
        .chain(on_path)
        .map(|initdb| std::fs::canonicalize(&initdb).unwrap_or(initdb))
        .find(|initdb| initdb.is_file() && initdb.with_file_name("postgres").is_file());
    match found {
        Some(initdb) => initdb.parent().expect("a folder").to_owned(),
        None => panic!(
            "PostgreSQL is not installed (no initdb with postgres beside it on PATH or in \
             /usr/lib/postgresql/*/bin): this test needs it. Install it with \
             `scripts/setup.sh server` (Debian's `postgresql`)."
        ),
    }
}

/// The uid and gid of the user `postgres` (PostgreSQL refuses to run as root).
fn postgres_user() -> (u32, u32) {
    let passwd = std::fs::read_to_string("/etc/passwd").expect("reading /etc/passwd");
    passwd
        .lines()
        .find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            (fields.first() == Some(&"postgres") && fields.len() > 3)
                .then(|| Some((fields[2].parse().ok()?, fields[3].parse().ok()?)))
                .flatten()
        })
        .expect(
            "tests run as root need the user `postgres` (Debian's `postgresql` creates it: \
             `scripts/setup.sh server`)",
        )
}

/// Runs `command` as the user `postgres` when this process is root.
fn as_cluster_user(command: &mut Command) -> &mut Command {
    use std::os::unix::process::CommandExt;
    if is_root() {
        let (uid, gid) = postgres_user();
        command.uid(uid).gid(gid);
    }
    command
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false)
}

fn start() -> Cluster {
    let bin = bin_dir();
    let began = Instant::now();
    let dir = tempfile::Builder::new()
        .prefix("q8s-postgres-")
        .tempdir()
        .expect("creating the cluster's folder")
        .keep();
    if is_root() {
        let (uid, gid) = postgres_user();
        std::os::unix::fs::chown(&dir, Some(uid), Some(gid))
            .expect("giving the folder to postgres");
    }
    let data = dir.join("data");
    let out = as_cluster_user(Command::new(bin.join("initdb")).current_dir("/"))
        .args([
            "--no-sync",
            "--auth=trust",
            "--username=postgres",
            "--encoding=UTF8",
        ])
        .args(["--locale=C.UTF-8", "-D"])
        .arg(&data)
        .output()
        .expect("running initdb");
    assert!(
        out.status.success(),
        "initdb failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let port = crate::free_port();
    // The keeper: starts postgres, and when its stdin closes (this process is gone) stops it
    // (fast shutdown) and removes the folder.
    let script = r#"
        "$1/postgres" -D "$2/data" -p "$3" -k "$2" -c listen_addresses=127.0.0.1 \
            -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
            -c max_connections=200 -c shared_buffers=32MB >"$2/log" 2>&1 &
        pid=$!
        cat >/dev/null
        kill -INT "$pid"
        wait "$pid"
        rm -rf "$2"
    "#;
    let keeper = as_cluster_user(Command::new("sh").current_dir("/"))
        .args(["-c", script, "q8s-postgres"])
        .arg(&bin)
        .arg(&dir)
        .arg(port.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting postgres");
    let lifeline = keeper.stdin.expect("the keeper's stdin");
    let cluster = Cluster {
        port,
        bin,
        _lifeline: lifeline,
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while !cluster.ready() {
        assert!(
            Instant::now() < deadline,
            "PostgreSQL did not start within 60 s; its log: {}",
            std::fs::read_to_string(dir.join("log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!(
        "PostgreSQL for this test process on 127.0.0.1:{port} (started in {:.1} s)",
        began.elapsed().as_secs_f64()
    );
    cluster
}

impl Cluster {
    fn ready(&self) -> bool {
        Command::new(self.bin.join("pg_isready"))
            .args(["-q", "-h", "127.0.0.1", "-p", &self.port.to_string()])
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Runs one SQL command as `postgres` on the database `postgres`; panics when it fails.
    fn psql(&self, sql: &str) {
        let out = Command::new(self.bin.join("psql"))
            .args([
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
            ])
            .args(["-p", &self.port.to_string(), "-d", "postgres", "-c", sql])
            .output()
            .expect("running psql");
        assert!(
            out.status.success(),
            "psql `{sql}` failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
