//! A throw-away PostgreSQL for tests: ONE cluster shared by every test process that runs
//! while it is up (all of a `make test` run: nextest runs each test in a process of its own),
//! each test with a database of its own from [`fresh_database`] (`CREATE DATABASE`,
//! milliseconds).
//!
//! The cluster is Debian's `postgresql` (`initdb`, `postgres`), run as the unprivileged user
//! `postgres` when the tests run as root, in a temporary folder with `fsync=off`, on a free
//! loopback port. Test processes hold a shared `flock` on `users.lock` in the state folder
//! (`$TMPDIR/q8s-postgres-<uid>`) for as long as they live; the first one (under `start.lock`)
//! starts the cluster with a keeper shell that waits for an exclusive lock on `users.lock` —
//! granted once no test process is left, however they ended — and, when no new one has come
//! for [`LINGER`], stops the cluster and removes its folder (a process arriving during that
//! waits, then starts a new one). So a run pays one start, and nothing outlives it by much. The
//! databases of test processes that are gone are dropped when a process joins.
//!
//! Without PostgreSQL installed, a test that asks for it FAILS saying how to install it
//! (`scripts/setup.sh scale`): tests are never skipped in silence.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The cluster this test process uses.
struct Cluster {
    port: u16,
    bin: PathBuf,
    /// The shared lock on `users.lock` that keeps the cluster up while this process lives.
    _user: File,
}

/// How long the cluster outlives the last test process that used it, for the next one.
const LINGER: Duration = Duration::from_secs(20);

static CLUSTER: OnceLock<Cluster> = OnceLock::new();
static NEXT: AtomicU32 = AtomicU32::new(0);

/// A new, empty database on the shared cluster (started when none runs), as a URL
/// `postgres://postgres@127.0.0.1:<port>/<name>`.
pub fn fresh_database() -> String {
    let cluster = CLUSTER.get_or_init(join);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let name = format!(
        "q8s_{}_{}_{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    cluster.psql(&format!("CREATE DATABASE {name}"));
    format!("postgres://postgres@127.0.0.1:{}/{name}", cluster.port)
}

/// Drops the database of `url` (a URL from [`fresh_database`]), ending its connections: what
/// a server sees when its database goes away.
pub fn drop_database(url: &str) {
    let cluster = CLUSTER.get_or_init(join);
    let name = url.rsplit('/').next().expect("a database name");
    cluster.psql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
}

/// The role that must give its password (every other role of the test cluster is trusted).
pub const PASSWORD_ROLE: &str = "q8s_password";
/// [`PASSWORD_ROLE`]'s password.
pub const PASSWORD: &str = "the-right-password";

/// A fresh database owned by [`PASSWORD_ROLE`], a role the cluster asks for its password
/// ([`PASSWORD`]), as a URL with that password: for tests of a refused login. The rule is
/// added (once per cluster, under the start lock) at the top of `pg_hba.conf`, for that role
/// only, so every other test still connects without one.
pub fn fresh_database_with_password() -> String {
    let url = fresh_database();
    let cluster = CLUSTER.get().expect("joined by fresh_database");
    let name = url.rsplit('/').next().expect("a database name");
    let hba = cluster.psql("SHOW hba_file");
    let hba = Path::new(hba.trim());
    let rule = format!("host all {PASSWORD_ROLE} 127.0.0.1/32 scram-sha-256\n");
    // <state>/cluster-…/data/pg_hba.conf
    let state = hba.ancestors().nth(3).expect("the state folder");
    let start = lock_file(&state.join("start.lock"));
    flock(&start, true);
    let text = std::fs::read_to_string(hba).expect("reading pg_hba.conf");
    if !text.contains(&rule) {
        std::fs::write(hba, format!("{rule}{text}")).expect("writing pg_hba.conf");
        cluster.psql(&format!(
            "DO $$ BEGIN CREATE ROLE {PASSWORD_ROLE} LOGIN PASSWORD '{PASSWORD}'; \
             EXCEPTION WHEN duplicate_object THEN NULL; END $$"
        ));
        cluster.psql("SELECT pg_reload_conf()");
        // The postmaster reloads on the signal, a moment later.
        std::thread::sleep(Duration::from_millis(300));
    }
    drop(start);
    cluster.psql(&format!("ALTER DATABASE {name} OWNER TO {PASSWORD_ROLE}"));
    format!(
        "postgres://{PASSWORD_ROLE}:{PASSWORD}@127.0.0.1:{}/{name}",
        cluster.port
    )
}

/// The folder of PostgreSQL's server programs: the newest `/usr/lib/postgresql/<version>/bin`
/// (Debian keeps them off PATH), else the folder of an `initdb` on PATH.
fn bin_dir() -> PathBuf {
    let mut debian: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| {
                    let version = e.file_name().to_str()?.parse().ok()?;
                    Some((version, e.path().join("bin/initdb")))
                })
                .collect()
        })
        .unwrap_or_default();
    debian.sort();
    let on_path = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("initdb"))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    // The real programs: a copy of `initdb` elsewhere does not find `postgres` beside it.
    let found = debian
        .into_iter()
        .rev()
        .map(|(_, initdb)| initdb)
        .chain(on_path)
        .map(|initdb| std::fs::canonicalize(&initdb).unwrap_or(initdb))
        .find(|initdb| initdb.is_file() && initdb.with_file_name("postgres").is_file());
    match found {
        Some(initdb) => initdb.parent().expect("a folder").to_owned(),
        None => panic!(
            "PostgreSQL is not installed (no initdb with postgres beside it in \
             /usr/lib/postgresql/*/bin or on PATH): this test needs it. Install it with \
             `scripts/setup.sh scale` (Debian's `postgresql`)."
        ),
    }
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false)
}

/// The uid and gid the cluster runs as: the user `postgres` when this process is root
/// (PostgreSQL refuses to run as root), else this process's own.
fn cluster_user() -> Option<(u32, u32)> {
    if !is_root() {
        return None;
    }
    let passwd = std::fs::read_to_string("/etc/passwd").expect("reading /etc/passwd");
    let user = passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        match fields[..] {
            ["postgres", _, uid, gid, ..] => Some((uid.parse().ok()?, gid.parse().ok()?)),
            _ => None,
        }
    });
    Some(user.expect(
        "tests run as root need the user `postgres` (Debian's `postgresql` creates it: \
         `scripts/setup.sh scale`)",
    ))
}

/// Runs `command` as the cluster's user.
fn as_cluster_user(command: &mut Command) -> &mut Command {
    if let Some((uid, gid)) = cluster_user() {
        command.uid(uid).gid(gid);
    }
    command
}

/// Gives `path` to the cluster's user.
fn give(path: &Path) {
    if let Some((uid, gid)) = cluster_user() {
        std::os::unix::fs::chown(path, Some(uid), Some(gid))
            .unwrap_or_else(|e| panic!("giving {} to postgres: {e}", path.display()));
    }
}

/// `flock(2)` on `file`, waiting for it.
fn flock(file: &File, exclusive: bool) {
    let op = if exclusive {
        libc::LOCK_EX
    } else {
        libc::LOCK_SH
    };
    // SAFETY: flock on a file descriptor this process owns; it touches no memory.
    while unsafe { libc::flock(file.as_raw_fd(), op) } != 0 {
        let err = std::io::Error::last_os_error();
        assert!(
            err.kind() == std::io::ErrorKind::Interrupted,
            "locking: {err}"
        );
    }
}

fn lock_file(path: &Path) -> File {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(path)
        .unwrap_or_else(|e| panic!("opening {}: {e}", path.display()));
    give(path);
    file
}

/// Joins the running cluster, or starts one.
fn join() -> Cluster {
    let bin = bin_dir();
    let uid =
        std::fs::metadata("/proc/self").map_or(0, |m| std::os::unix::fs::MetadataExt::uid(&m));
    let state = std::env::temp_dir().join(format!("q8s-postgres-{uid}"));
    std::fs::create_dir_all(&state).expect("creating the cluster's state folder");
    give(&state);
    let user = lock_file(&state.join("users.lock"));
    flock(&user, false);
    let start = lock_file(&state.join("start.lock"));
    flock(&start, true);
    let running = std::fs::read_to_string(state.join("cluster"))
        .ok()
        .and_then(|text| {
            let (port, keeper) = text.trim().split_once(' ')?;
            let port = port.parse().ok()?;
            Path::new("/proc").join(keeper).exists().then_some(port)
        })
        .filter(|port| ready(&bin, *port));
    let port = match running {
        Some(port) => port,
        None => start_cluster(&bin, &state),
    };
    drop(start);
    let cluster = Cluster {
        port,
        bin,
        _user: user,
    };
    cluster.drop_databases_of_the_gone();
    cluster
}

/// Starts a cluster and its keeper; records `<port> <keeper pid>` in `state/cluster`.
fn start_cluster(bin: &Path, state: &Path) -> u16 {
    let began = Instant::now();
    let dir = tempfile::Builder::new()
        .prefix("cluster-")
        .tempdir_in(state)
        .expect("creating the cluster's folder")
        .keep();
    give(&dir);
    let out = as_cluster_user(Command::new(bin.join("initdb")).current_dir("/"))
        .args(["--no-sync", "--auth=trust", "--username=postgres"])
        .args(["--encoding=UTF8", "--locale=C.UTF-8", "-D"])
        .arg(dir.join("data"))
        .output()
        .expect("running initdb");
    assert!(
        out.status.success(),
        "initdb failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let port = crate::free_port();
    // The keeper: starts postgres; once no test process holds users.lock, and none has come
    // for LINGER (the next test binary of the run), stops it (fast shutdown, holding the
    // lock so that newcomers wait) and removes what it was.
    let script = r#"
        "$1/postgres" -D "$2/data" -p "$3" -k "$2" -c listen_addresses=127.0.0.1 \
            -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
            -c max_connections=300 -c shared_buffers=32MB >"$2/log" 2>&1 &
        pid=$!
        exec 9<"$4/users.lock"
        while :; do
            flock -x 9
            flock -u 9
            sleep "$5"
            flock -x -n 9 && break
        done
        kill -INT "$pid"
        wait "$pid"
        rm -f "$4/cluster"
        rm -rf "$2"
    "#;
    // Started in the background by a shell that says its pid and exits, so the keeper
    // outlives this process (as init's child); in a process group of its own, so signals to
    // the test's group do not stop it early.
    let launch = r#"keeper=$1; shift; sh -c "$keeper" q8s-postgres "$@" </dev/null >/dev/null 2>&1 & echo $!"#;
    let out = as_cluster_user(Command::new("sh").current_dir("/").process_group(0))
        .args(["-c", launch, "sh", script])
        .arg(bin)
        .arg(&dir)
        .arg(port.to_string())
        .arg(state)
        .arg(LINGER.as_secs().to_string())
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .expect("starting postgres");
    assert!(out.status.success(), "starting the keeper failed");
    let keeper = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ready(bin, port) {
        assert!(
            Instant::now() < deadline,
            "PostgreSQL did not start within 60 s; its log: {}",
            std::fs::read_to_string(dir.join("log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::fs::write(state.join("cluster"), format!("{port} {keeper}\n"))
        .expect("recording the cluster");
    eprintln!(
        "PostgreSQL for the tests on 127.0.0.1:{port} (started in {:.1} s)",
        began.elapsed().as_secs_f64()
    );
    port
}

fn ready(bin: &Path, port: u16) -> bool {
    Command::new(bin.join("pg_isready"))
        .args(["-q", "-h", "127.0.0.1", "-p", &port.to_string()])
        .status()
        .is_ok_and(|s| s.success())
}

impl Cluster {
    /// Runs SQL as `postgres` on the database `postgres`; its output, or a panic.
    fn psql(&self, sql: &str) -> String {
        let out = Command::new(self.bin.join("psql"))
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
            .args(["-h", "127.0.0.1", "-U", "postgres", "-d", "postgres"])
            .args(["-p", &self.port.to_string(), "-c", sql])
            .output()
            .expect("running psql");
        assert!(
            out.status.success(),
            "psql `{sql}` failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Drops the databases of test processes that are gone (`q8s_<pid>_…`).
    fn drop_databases_of_the_gone(&self) {
        let names = self.psql("SELECT datname FROM pg_database WHERE datname LIKE 'q8s\\_%'");
        for name in names.lines() {
            let pid = name.split('_').nth(1).unwrap_or_default();
            if !pid.is_empty() && !Path::new("/proc").join(pid).exists() {
                self.psql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            }
        }
    }
}
