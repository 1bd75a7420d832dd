//! Test harness of the CLI's service tests: a REAL `q8s-server` process on a free loopback
//! port with a temporary data directory, `q8s-cli` run as a user runs it (its own config
//! file, no inherited `Q8S_*` variables), and golden files for the human formats.
#![allow(dead_code, unused_imports)] // each test file uses a different subset

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde_json::Value;

pub use q8s_testing::apps::hello;
pub use q8s_testing::fs::files_under;
pub use q8s_testing::{ServerProcess, eventually, free_port, repo_root};

/// The `q8s-server` binary next to `q8s-cli` (built by `cargo test --workspace`; built here
/// when missing).
pub fn server_binary() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY
        .get_or_init(|| q8s_testing::server_binary_beside(Path::new(env!("CARGO_BIN_EXE_q8s-cli"))))
        .clone()
}

/// A running server; killed when dropped. Its fields and methods are the process's (`url`,
/// `admin_token`, `log()`, `admin_password()`, …).
pub struct Server(ServerProcess);

impl std::ops::Deref for Server {
    type Target = ServerProcess;
    fn deref(&self) -> &ServerProcess {
        &self.0
    }
}

impl Server {
    /// Starts a server with extra arguments.
    pub fn start_with(args: &[&str]) -> Server {
        Server(ServerProcess::start(&server_binary(), args))
    }

    /// Starts a server with its defaults.
    pub fn start() -> Server {
        Server::start_with(&[])
    }

    /// A user of the CLI signed in with `token` (through `Q8S_URL` and `Q8S_TOKEN`).
    pub fn user(&self, token: &str) -> User {
        let mut user = User::new();
        user.env("Q8S_URL", &self.url).env("Q8S_TOKEN", token);
        user
    }

    /// The admin as a CLI user.
    pub fn admin(&self) -> User {
        self.user(&self.admin_token)
    }
}

/// Someone running `q8s-cli`: a home of their own (config file, temporary files) and the
/// environment variables they set.
pub struct User {
    /// Their home: holds `config.toml` (`Q8S_CONFIG`) and `tmp/` (`TMPDIR`).
    pub home: tempfile::TempDir,
    env: Vec<(String, String)>,
}

impl User {
    /// A user with an empty home and no `Q8S_*` settings.
    pub fn new() -> User {
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir(home.path().join("tmp")).unwrap();
        User {
            home,
            env: Vec::new(),
        }
    }

    /// Sets an environment variable for every later run.
    pub fn env(&mut self, key: &str, value: &str) -> &mut User {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// The configuration file.
    pub fn config_path(&self) -> PathBuf {
        self.home.path().join("config.toml")
    }

    /// The temporary folder the CLI uses.
    pub fn tmp(&self) -> PathBuf {
        self.home.path().join("tmp")
    }

    /// `q8s-cli ARGS` ready to spawn.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_q8s-cli"));
        command
            .args(args)
            .current_dir(self.home.path())
            .env_remove("Q8S_URL")
            .env_remove("Q8S_TOKEN")
            .env_remove("Q8S_PROFILE")
            .env("Q8S_CONFIG", self.config_path())
            .env("HOME", self.home.path())
            .env("TMPDIR", self.tmp())
            .env("NO_COLOR", "1")
            .env("BROWSER", "false");
        for (key, value) in &self.env {
            command.env(key, value);
        }
        command
    }

    /// Runs `q8s-cli ARGS` to the end.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("q8s-cli runs")
    }

    /// Runs it, expects exit 0, returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert_eq!(o.status.code(), Some(0), "q8s-cli {args:?}: {}", stderr(&o));
        stdout(&o)
    }

    /// Runs it with `-o json`, expects exit 0, returns the JSON.
    pub fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        let out = self.ok(&all);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {out}"))
    }
}

/// stdout as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// stderr as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn is_uuid_at(bytes: &[u8], i: usize) -> bool {
    bytes.len() >= i + 36
        && bytes[i..i + 36].iter().enumerate().all(|(k, b)| match k {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// Replaces what changes from run to run: UUIDs (`<id>`), ports (`:<port>`), deploy stamps
/// (`<stamp>`), dates and clock times (`<date> <time>`), ages (`<age>`); and collapses runs of
/// spaces (column widths follow the values).
pub fn normalize(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        if is_uuid_at(bytes, i) {
            out.push_str("<id>");
            i += 36;
        } else {
            let c = text[i..].chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
        }
    }
    let token = |t: &str| -> String {
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        let parts: Vec<&str> = t.split('-').collect();
        if parts.len() == 3 && parts[0].len() == 4 && parts.iter().all(|p| digits(p)) {
            return "<date>".into();
        }
        let clock: Vec<&str> = t.split(':').collect();
        if clock.len() == 3
            && digits(clock[0])
            && digits(clock[1])
            && clock[2].len() >= 2
            && digits(&clock[2][..2])
        {
            return "<time>".into();
        }
        if t.len() >= 2 && digits(&t[..t.len() - 1]) && t.ends_with(['s', 'm', 'h', 'd']) {
            return "<age>".into();
        }
        let mut t = t.to_owned();
        for host in ["localhost:", "127.0.0.1:"] {
            if let Some(at) = t.find(host) {
                let start = at + host.len();
                let end = t[start..]
                    .find(|c: char| !c.is_ascii_digit())
                    .map_or(t.len(), |e| start + e);
                t.replace_range(start..end, "<port>");
            }
        }
        // Deploy versions: `-yyyymmddHHMMSS` (14 digits).
        if let Some(at) = t
            .find(|c: char| c.is_ascii_digit())
            .and_then(|_| find_stamp(&t))
        {
            t.replace_range(at..at + 14, "<stamp>");
        }
        t
    };
    out.lines()
        .map(|line| {
            line.split_whitespace()
                .map(token)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n")
        + if text.ends_with('\n') { "\n" } else { "" }
}

fn find_stamp(t: &str) -> Option<usize> {
    let b = t.as_bytes();
    (1..b.len().saturating_sub(13)).find(|&i| {
        matches!(b[i - 1], b'-' | b'.')
            && b[i..i + 14].iter().all(u8::is_ascii_digit)
            && b.get(i + 14).is_none_or(|c| !c.is_ascii_digit())
    })
}

/// Compares `actual` (normalised) with `tests/golden/<name>`; `Q8S_BLESS=1` rewrites it.
pub fn golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    let actual = normalize(actual);
    if std::env::var_os("Q8S_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "missing {} (run with Q8S_BLESS=1 to create it)",
            path.display()
        )
    });
    assert_eq!(
        actual, expected,
        "golden file {name} differs (Q8S_BLESS=1 rewrites it)"
    );
}

/// A blocking HTTP client for the browser's side of things (no redirects followed).
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Runs a future to completion (tests are synchronous; the browser side is async reqwest).
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

impl Server {
    /// Signs in through the login form; the `Cookie` header value to send.
    pub async fn login(&self, client: &reqwest::Client, username: &str, password: &str) -> String {
        let r = client
            .post(format!("{}/login", self.url))
            .form(&[
                ("username", username),
                ("password", password),
                ("next", "/"),
            ])
            .send()
            .await
            .unwrap();
        let set = r.headers()["set-cookie"].to_str().unwrap();
        set.split(';').next().unwrap().to_owned()
    }

    /// Creates a user (as admin, with the CLI) and returns an API token minted through the
    /// browser path (login form, then `POST /api/v1/tokens` from the same origin).
    pub fn new_user(&self, username: &str, admin: bool) -> (String, String) {
        let mut args = vec!["admin", "user", "add", username];
        if admin {
            args.push("--admin");
        }
        let created = self.admin().json(&args);
        let password = created["password"].as_str().unwrap().to_owned();
        let token = block_on(async {
            let client = http();
            let cookie = self.login(&client, username, &password).await;
            let r = client
                .post(format!("{}/api/v1/tokens", self.url))
                .header("cookie", cookie)
                .header("origin", &self.url)
                .json(&serde_json::json!({"name": "test"}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 201);
            r.json::<Value>().await.unwrap()["token"]
                .as_str()
                .unwrap()
                .to_owned()
        });
        (password, token)
    }

    /// GET an API path with the admin token: the raw JSON the server answers.
    pub fn api_json(&self, path: &str) -> Value {
        block_on(async {
            http()
                .get(format!("{}/api/v1{path}", self.url))
                .bearer_auth(&self.admin_token)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        })
    }
}
