//! A real `q8s-server` process for a test.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::fs::unmount_under;

/// A running `q8s-server` on `127.0.0.1:<port>` with a data directory of its own. The process
/// is killed when this is dropped; the last holder of the data directory also unmounts what
/// the server's instances left mounted under it and removes the log (kept when the test
/// failed, and its path printed).
pub struct ServerProcess {
    /// `http://localhost:<port>`: the server's own name for itself (pages under another name
    /// are redirected there).
    pub url: String,
    /// The port it listens on.
    pub port: u16,
    /// The admin's API token (from `<data-dir>/admin-token`, or from the log of a server
    /// whose data directory the test cannot see).
    pub admin_token: String,
    /// The data directory, kept across [`ServerProcess::respawn`]. The log is beside it
    /// (`<data-dir>.log`).
    pub data: Arc<tempfile::TempDir>,
    binary: PathBuf,
    args: Vec<String>,
    disk: Option<u64>,
    /// Environment variables set for the process, kept across respawns.
    env: Vec<(String, String)>,
    child: Child,
}

/// The `q8s-server` binary next to `exe` (another binary of the same cargo build); built with
/// cargo when missing, in the same profile.
pub fn server_binary_beside(exe: &Path) -> PathBuf {
    let server = exe.with_file_name("q8s-server");
    if !server.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = Command::new(cargo);
        build.args(["build", "-p", "q8s-server", "--bin", "q8s-server"]);
        if exe.parent().is_some_and(|d| d.ends_with("release")) {
            build.arg("--release");
        }
        let status = build.status().expect("running cargo build");
        assert!(status.success(), "building q8s-server failed");
    }
    server
}

impl ServerProcess {
    /// Starts `binary` with `args` on a fresh data directory and waits until it is ready.
    pub fn start(binary: &Path, args: &[&str]) -> ServerProcess {
        let data = Arc::new(tempfile::tempdir().expect("creating a data dir"));
        let args = args.iter().map(|a| a.to_string()).collect();
        Self::spawn(binary.to_owned(), data, args, None, Vec::new(), None)
    }

    /// [`ServerProcess::start`] with environment variables (e.g. the `AWS_*` credentials of a
    /// bucket).
    pub fn start_with_env(binary: &Path, args: &[&str], env: &[(&str, &str)]) -> ServerProcess {
        Self::start_fresh(binary, args, env, None)
    }

    /// Starts another replica of a server whose store another process made (it makes no
    /// admin, so it is given the first one's `admin_token`): `binary` with `args` and `env`
    /// on a fresh data directory, waited for until ready.
    pub fn start_joining(
        binary: &Path,
        args: &[&str],
        env: &[(&str, &str)],
        admin_token: &str,
    ) -> ServerProcess {
        Self::start_fresh(binary, args, env, Some(admin_token.to_owned()))
    }

    fn start_fresh(
        binary: &Path,
        args: &[&str],
        env: &[(&str, &str)],
        admin_token: Option<String>,
    ) -> ServerProcess {
        let data = Arc::new(tempfile::tempdir().expect("creating a data dir"));
        let args = args.iter().map(|a| a.to_string()).collect();
        let env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Self::spawn(binary.to_owned(), data, args, None, env, admin_token)
    }

    /// Starts `binary` on a data directory that is a disk of `bytes` of its own: a tmpfs of
    /// that size, mounted over it by bubblewrap in a mount namespace of the server's (so the
    /// test cannot look inside; the admin token comes from the server's log).
    pub fn start_on_disk_of(binary: &Path, bytes: u64) -> ServerProcess {
        let data = Arc::new(tempfile::tempdir().expect("creating a data dir"));
        Self::spawn(
            binary.to_owned(),
            data,
            Vec::new(),
            Some(bytes),
            Vec::new(),
            None,
        )
    }

    /// Starts a new process on the same data directory, with `args` when given and the old
    /// arguments otherwise (kills the old process if it still runs).
    pub fn respawn(mut self, args: Option<&[&str]>) -> ServerProcess {
        self.kill();
        assert!(
            self.disk.is_none(),
            "a server on a disk of its own loses it when it stops"
        );
        let args = match args {
            Some(args) => args.iter().map(|a| a.to_string()).collect(),
            None => std::mem::take(&mut self.args),
        };
        let binary = self.binary.clone();
        let data = self.data.clone();
        let env = std::mem::take(&mut self.env);
        let token = std::mem::take(&mut self.admin_token);
        drop(self);
        Self::spawn(binary, data, args, None, env, Some(token))
    }

    fn spawn(
        binary: PathBuf,
        data: Arc<tempfile::TempDir>,
        args: Vec<String>,
        disk: Option<u64>,
        env: Vec<(String, String)>,
        admin_token: Option<String>,
    ) -> ServerProcess {
        let port = crate::free_port();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log_path(&data))
            .expect("opening the server log");
        let mut command = match disk {
            None => Command::new(&binary),
            Some(bytes) => {
                let mut bwrap = Command::new("bwrap");
                bwrap
                    .args([
                        "--dev-bind",
                        "/",
                        "/",
                        "--size",
                        &bytes.to_string(),
                        "--tmpfs",
                    ])
                    .arg(data.path())
                    .arg("--die-with-parent")
                    .arg(&binary);
                bwrap
            }
        };
        let child = command
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--data-dir")
            .arg(data.path())
            .args(&args)
            .env("Q8S_LOG", "info,q8s_server=debug")
            .envs(env.iter().map(|(k, v)| (k, v)))
            // The first start's banner (with the admin token) goes to stdout.
            .stdout(match disk {
                Some(_) => Stdio::from(log.try_clone().expect("sharing the server log")),
                None => Stdio::null(),
            })
            .stderr(log)
            .spawn()
            .expect("starting q8s-server");
        let mut server = ServerProcess {
            url: format!("http://localhost:{port}"),
            port,
            admin_token: String::new(),
            data,
            binary,
            args,
            disk,
            env,
            child,
        };
        server.wait_ready();
        if let Some(token) = admin_token.filter(|t| !t.is_empty()) {
            server.admin_token = token;
            return server;
        }
        server.admin_token = match std::fs::read_to_string(server.data_dir().join("admin-token")) {
            Ok(token) => token.trim().to_owned(),
            Err(_) if disk.is_some() => server
                .log()
                .lines()
                .find_map(|line| line.trim().strip_prefix("API token: "))
                .expect("the admin token in the log")
                .to_owned(),
            Err(err) => panic!("reading admin-token: {err}; log: {}", server.log()),
        };
        server
    }

    /// Waits (up to 60 s) until `GET /readyz` answers 200; panics with the log when the
    /// process exits first.
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("q8s-server exited early ({status}); log: {}", self.log());
            }
            if ready(self.port) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "q8s-server did not become ready; log: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        self.data.path()
    }

    /// The server's log (its stderr) so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(log_path(&self.data)).unwrap_or_default()
    }

    /// The admin's first password (`<data-dir>/admin-password`).
    pub fn admin_password(&self) -> String {
        std::fs::read_to_string(self.data_dir().join("admin-password"))
            .expect("reading admin-password")
            .trim()
            .to_owned()
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the server with SIGKILL (no clean-up) and waits for it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Stops the server with SIGTERM and waits (up to 30 s) for it to exit.
    pub fn terminate(&mut self) -> ExitStatus {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            if Instant::now() > deadline {
                self.kill();
                panic!("q8s-server did not stop on SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
        if Arc::strong_count(&self.data) > 1 {
            return; // a respawned process holds the directory too
        }
        // A killed server leaves its instances' volumes mounted (loop devices are a resource
        // of the whole machine).
        unmount_under(self.data.path());
        let log = log_path(&self.data);
        if std::thread::panicking() {
            eprintln!("q8s-server log kept at {}", log.display());
        } else {
            let _ = std::fs::remove_file(log);
        }
    }
}

fn log_path(data: &tempfile::TempDir) -> PathBuf {
    data.path().with_extension("log")
}

/// Whether `GET /readyz` on `127.0.0.1:port` answers 200 (the server serves, and its store and
/// blob store answer). One HTTP/1.1 request on a plain
/// socket: the harness serves sync and async tests alike, and a blocking HTTP client cannot
/// run inside an async test's runtime.
fn ready(port: u16) -> bool {
    let ask = || -> std::io::Result<bool> {
        let mut stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        stream.write_all(
            format!("GET /readyz HTTP/1.1\r\nHost: localhost:{port}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )?;
        let mut head = [0u8; 12];
        stream.read_exact(&mut head)?;
        Ok(head.starts_with(b"HTTP/1.1 200"))
    };
    ask().unwrap_or(false)
}
