//! Test harness shared by the server's integration tests: a REAL `q8s-server` process on a
//! free loopback port with a temporary data directory, and helpers to act as its users.
#![allow(dead_code)] // each test file uses a different subset

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

pub use reqwest::Method;
use reqwest::{Client, Response, StatusCode, redirect};
use serde_json::{Value, json};

/// A running server. The process is killed when this is dropped.
pub struct TestServer {
    /// `http://localhost:<port>` (the server's URL).
    pub url: String,
    /// The port it listens on.
    pub port: u16,
    /// The admin's API token (from `<data-dir>/admin-token`).
    pub admin_token: String,
    /// The data directory (kept across [`TestServer::restart`]).
    pub data: Arc<tempfile::TempDir>,
    /// An HTTP client that does not follow redirects.
    pub client: Client,
    args: Vec<String>,
    /// The size of the disk the data directory is on, when it is a small one of its own.
    disk: Option<u64>,
    child: Child,
}

pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binding a free port");
    listener.local_addr().unwrap().port()
}

/// A client that does not follow redirects (auth tests look at them).
pub fn client() -> Client {
    Client::builder()
        .redirect(redirect::Policy::none())
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap()
}

impl TestServer {
    /// Starts a server with default settings.
    pub async fn start() -> TestServer {
        Self::start_with(&[]).await
    }

    /// Starts a server on the in-memory fake runtime (`--runtime fake`): instances run at once
    /// and answer `fake instance <id>: <METHOD> <path>`; for tests that do not test the sandbox.
    pub async fn start_fake() -> TestServer {
        Self::start_with(&["--runtime", "fake"]).await
    }

    /// Starts a server with extra command-line arguments (e.g. `--max-bundle-size 100000`).
    pub async fn start_with(args: &[&str]) -> TestServer {
        let data = Arc::new(tempfile::tempdir().expect("creating a data dir"));
        let args = args.iter().map(|a| a.to_string()).collect();
        Self::spawn(data, args, None).await
    }

    /// Starts a server whose data directory is a disk of `bytes` of its own: a tmpfs of that
    /// size, mounted over it by bubblewrap in a mount namespace of the server's (so the test
    /// cannot look inside; the admin token comes from the server's log).
    pub async fn start_on_disk_of(bytes: u64) -> TestServer {
        let data = Arc::new(tempfile::tempdir().expect("creating a data dir"));
        Self::spawn(data, Vec::new(), Some(bytes)).await
    }

    async fn spawn(
        data: Arc<tempfile::TempDir>,
        args: Vec<String>,
        disk: Option<u64>,
    ) -> TestServer {
        let port = free_port();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(data.path().with_extension("log"))
            .expect("opening the server log");
        let server = env!("CARGO_BIN_EXE_q8s-server");
        let mut command = match disk {
            None => Command::new(server),
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
                    .args(["--die-with-parent", server]);
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
            // The first start's banner (with the admin token) goes to stdout.
            .stdout(match disk {
                Some(_) => Stdio::from(log.try_clone().expect("sharing the server log")),
                None => Stdio::null(),
            })
            .stderr(log)
            .spawn()
            .expect("starting q8s-server");
        // The server's own name for itself: pages under another name are redirected there.
        let url = format!("http://localhost:{port}");
        let client = client();
        let mut server = TestServer {
            url,
            port,
            admin_token: String::new(),
            data,
            client,
            args,
            disk,
            child,
        };
        server.wait_ready().await;
        server.admin_token = match std::fs::read_to_string(server.data_dir().join("admin-token")) {
            Ok(token) => token.trim().to_owned(),
            // Printed once, on the first start.
            Err(_) if disk.is_some() => server
                .log()
                .lines()
                .find_map(|line| line.trim().strip_prefix("API token: "))
                .expect("the admin token in the log")
                .to_owned(),
            Err(err) => panic!("reading admin-token: {err}"),
        };
        server
    }

    async fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("q8s-server exited early ({status}); log: {}", self.log());
            }
            if let Ok(r) = self
                .client
                .get(format!("{}/healthz", self.url))
                .send()
                .await
            {
                if r.status() == StatusCode::OK {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "q8s-server did not become ready; log: {}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        self.data.path()
    }

    /// The server's stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data.path().with_extension("log")).unwrap_or_default()
    }

    /// The process id (for `ps`-based checks).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the server with SIGKILL (no clean-up) and waits for it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Stops the server with SIGTERM and waits (up to 30 s) for a clean exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
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

    /// Starts a new server process on the same data directory (after [`kill`] or
    /// [`terminate`]; kills the old process if it still runs).
    pub async fn restart(self) -> TestServer {
        let mut old = self;
        old.kill();
        let data = old.data.clone();
        let args = old.args.clone();
        assert!(
            old.disk.is_none(),
            "a server on a disk of its own loses it when it stops"
        );
        drop(old);
        Self::spawn(data, args, None).await
    }

    /// `<url>/api/v1<path>`.
    pub fn api(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.url)
    }

    /// GET an API path with a token; returns status and JSON (Null when not JSON).
    pub async fn get(&self, token: &str, path: &str) -> (StatusCode, Value) {
        let r = self
            .client
            .get(self.api(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        json_of(r).await
    }

    /// Sends `method` to an API path with a token and an optional JSON body; returns the status.
    pub async fn status(
        &self,
        method: Method,
        token: &str,
        path: &str,
        body: Option<Value>,
    ) -> StatusCode {
        let mut request = self
            .client
            .request(method, self.api(path))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.unwrap().status()
    }

    /// Imports the bundle file at `path` with `token`.
    pub async fn import(&self, token: &str, path: &Path, visibility: &str) -> (StatusCode, Value) {
        let bytes = std::fs::read(path).unwrap();
        self.import_bytes(token, bytes, visibility).await
    }

    /// A client that reaches instance `id` at `http://<id>.localhost:<port>/` (the name
    /// resolved to this server), following no redirects.
    pub fn instance_client(&self, id: &str) -> Client {
        let addr: std::net::SocketAddr = format!("127.0.0.1:{}", self.port).parse().unwrap();
        Client::builder()
            .redirect(redirect::Policy::none())
            .resolve(&format!("{id}.localhost"), addr)
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap()
    }

    /// Imports bundle bytes with `token`.
    pub async fn import_bytes(
        &self,
        token: &str,
        bytes: Vec<u8>,
        visibility: &str,
    ) -> (StatusCode, Value) {
        let r = self
            .client
            .post(self.api(&format!("/apps?visibility={visibility}")))
            .bearer_auth(token)
            .header("content-type", "application/octet-stream")
            .body(bytes)
            .send()
            .await
            .unwrap();
        json_of(r).await
    }

    /// Creates a user (as admin) with `password` and returns their new API token, minted
    /// through the browser path: `POST /login`, then `POST /api/v1/tokens` with the cookie.
    pub async fn user_token(&self, username: &str, admin: bool) -> String {
        let password = format!("pw-{username}-{}", self.port);
        let r = self
            .client
            .post(self.api("/users"))
            .bearer_auth(&self.admin_token)
            .json(&json!({"username": username, "password": password, "admin": admin}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            StatusCode::CREATED,
            "{}",
            r.text().await.unwrap()
        );
        let cookie = self.login(username, &password).await.expect("signing in");
        let r = self
            .client
            .post(self.api("/tokens"))
            .header("cookie", cookie)
            // As a browser on q8s's own page sends it (cookie requests need our origin).
            .header("origin", &self.url)
            .json(&json!({"name": "test"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        r.json::<Value>().await.unwrap()["token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Signs in through the login form; returns the `Cookie` header value to send.
    pub async fn login(&self, username: &str, password: &str) -> Option<String> {
        let r = self
            .client
            .post(format!("{}/login", self.url))
            .form(&[
                ("username", username),
                ("password", password),
                ("next", "/"),
            ])
            .send()
            .await
            .unwrap();
        let set = r.headers().get("set-cookie")?.to_str().ok()?;
        Some(set.split(';').next()?.to_owned())
    }

    /// Sets a secret (as admin).
    pub async fn put_secret(&self, name: &str, data: Value) {
        let r = self
            .client
            .put(self.api(&format!("/secrets/{name}")))
            .bearer_auth(&self.admin_token)
            .json(&json!({ "data": data }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    }

    /// Launches an instance of `app_id`.
    pub async fn launch(&self, token: &str, app_id: &str, visibility: &str) -> (StatusCode, Value) {
        let r = self
            .client
            .post(self.api(&format!("/apps/{app_id}/instances")))
            .bearer_auth(token)
            .json(&json!({ "visibility": visibility }))
            .send()
            .await
            .unwrap();
        json_of(r).await
    }

    /// Polls an instance until its status is `status` (panics after `timeout`).
    pub async fn wait_for_status(
        &self,
        token: &str,
        instance_id: &str,
        status: &str,
        timeout: Duration,
    ) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let (code, instance) = self.get(token, &format!("/instances/{instance_id}")).await;
            assert_eq!(code, StatusCode::OK, "{instance}");
            if instance["status"] == status {
                return instance;
            }
            assert!(
                Instant::now() < deadline,
                "instance {instance_id} is {} ({}), not {status}; log: {}",
                instance["status"],
                instance["status_message"],
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Files under `<data-dir>/blobs` (bundles stored).
    pub fn blob_files(&self) -> Vec<PathBuf> {
        files_under(&self.data_dir().join("blobs"))
    }

    /// Files under `<data-dir>/tmp` (uploads in progress).
    pub fn tmp_files(&self) -> Vec<PathBuf> {
        files_under(&self.data_dir().join("tmp"))
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.kill();
        // A killed server leaves its instances' volumes mounted (loop devices are a resource of
        // the whole machine); the last holder of the directory unmounts them.
        if Arc::strong_count(&self.data) == 1 {
            unmount_under(self.data.path());
        }
        // The log sits beside the data directory: it goes with it (the last holder of the
        // directory; `restart` holds it too), unless the test failed.
        let log = self.data.path().with_extension("log");
        if std::thread::panicking() {
            eprintln!("q8s-server log kept at {}", log.display());
        } else if Arc::strong_count(&self.data) == 1 {
            let _ = std::fs::remove_file(log);
        }
    }
}

/// Mount points at or below `dir`, from this process's mount table (deepest last).
pub fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_owned());
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.split(' ').nth(4).map(PathBuf::from))
        .filter(|point| point.starts_with(&dir))
        .collect()
}

/// Unmounts everything mounted at or below `dir`.
pub fn unmount_under(dir: &Path) {
    for point in mounts_under(dir).into_iter().rev() {
        let _ = Command::new("umount").arg(&point).status();
    }
}

/// Every file below `dir` (recursively).
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// Status and JSON body (Null when the body is not JSON).
pub async fn json_of(r: Response) -> (StatusCode, Value) {
    let status = r.status();
    let text = r.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// The repository's root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Bundles the app folder `dir` into a fresh temporary folder and returns the `.qz` path.
pub fn bundle_dir(dir: &Path) -> (tempfile::TempDir, PathBuf) {
    let out = tempfile::tempdir().unwrap();
    let tree = q8s_core::select::FsTree::new(dir).expect("opening the app folder");
    let target = out.path().join("bundle.qz");
    let file = std::fs::File::create(&target).unwrap();
    let (info, _) = q8s_core::bundle::build_tree(&tree, std::io::BufWriter::new(file))
        .unwrap_or_else(|e| panic!("bundling {}: {e}", dir.display()));
    let named = out.path().join(info.file_name);
    std::fs::rename(&target, &named).unwrap();
    (out, named)
}

/// `examples/hello` as a bundle, built once per test process into one shared file under
/// cargo's test scratch folder (a static `TempDir` is never dropped, so it would leave a folder
/// in `/tmp` per process). Every process writes the same bytes — bundles are deterministic —
/// and renames them into place, so readers never see a partial file.
pub fn hello_bundle() -> PathBuf {
    static BUNDLE: OnceLock<PathBuf> = OnceLock::new();
    BUNDLE
        .get_or_init(|| {
            let (dir, built) = bundle_dir(&repo_root().join("examples/hello"));
            let scratch = Path::new(env!("CARGO_TARGET_TMPDIR"));
            let shared = scratch.join(built.file_name().unwrap());
            let mut staged = tempfile::NamedTempFile::new_in(scratch).unwrap();
            std::io::copy(&mut std::fs::File::open(&built).unwrap(), &mut staged).unwrap();
            staged.persist(&shared).unwrap();
            drop(dir);
            shared
        })
        .clone()
}

/// A copy of `examples/hello` with `App.Version` (and optionally more manifest text)
/// changed, bundled; for tests that need several versions or different manifests.
pub fn hello_variant(version: &str, extra_manifest: &str) -> (tempfile::TempDir, PathBuf) {
    let src = repo_root().join("examples/hello");
    let work = tempfile::tempdir().unwrap();
    let app = work.path().join("hello");
    copy_dir(&src, &app);
    let manifest = std::fs::read_to_string(app.join("q-app.toml")).unwrap();
    let manifest = manifest.replace("Version = \"0.1.0\"", &format!("Version = \"{version}\""));
    std::fs::write(
        app.join("q-app.toml"),
        format!("{manifest}\n{extra_manifest}"),
    )
    .unwrap();
    let (out, path) = bundle_dir(&app);
    let kept = work.path().join(path.file_name().unwrap());
    std::fs::rename(&path, &kept).unwrap();
    drop(out);
    (work, kept)
}

fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for entry in std::fs::read_dir(src).unwrap().flatten() {
        let target = dst.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

impl TestServer {
    /// Starts a new server process on the same data directory with other command-line
    /// arguments (kills the old process if it still runs).
    pub async fn restart_with(mut self, args: &[&str]) -> TestServer {
        self.args = args.iter().map(|a| a.to_string()).collect();
        self.restart().await
    }
}

/// A copy of `examples/hello` named `name` at `version`, with each `(from, to)` replaced in its
/// manifest text, bundled; the folder holding the `.qz` goes when the `TempDir` is dropped.
pub fn app_variant(
    name: &str,
    version: &str,
    replacements: &[(&str, &str)],
) -> (tempfile::TempDir, PathBuf) {
    let work = tempfile::tempdir().unwrap();
    let app = work.path().join("app");
    copy_dir(&repo_root().join("examples/hello"), &app);
    let mut manifest = std::fs::read_to_string(app.join("q-app.toml"))
        .unwrap()
        .replace("Name = \"ai.h2o.q8s.hello\"", &format!("Name = \"{name}\""))
        .replace("Version = \"0.1.0\"", &format!("Version = \"{version}\""));
    for (from, to) in replacements {
        assert!(manifest.contains(from), "the manifest has no {from:?}");
        manifest = manifest.replace(from, to);
    }
    std::fs::write(app.join("q-app.toml"), manifest).unwrap();
    let (out, path) = bundle_dir(&app);
    let kept = work.path().join(path.file_name().unwrap());
    std::fs::rename(&path, &kept).unwrap();
    drop(out);
    (work, kept)
}

impl TestServer {
    /// Opens the Wave page `route` of instance `id` over its websocket, through the proxy, as
    /// the holder of `token`, and returns the first message from the app that contains
    /// `needle` (panics after `timeout`).
    pub async fn wave_message(
        &self,
        token: &str,
        id: &str,
        route: &str,
        needle: &str,
        timeout: Duration,
    ) -> String {
        use futures::{SinkExt, StreamExt};
        use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};
        let mut request = format!("ws://127.0.0.1:{}/_s/", self.port)
            .into_client_request()
            .unwrap();
        let headers = request.headers_mut();
        let host = format!("{id}.localhost:{}", self.port);
        headers.insert("host", host.parse().unwrap());
        headers.insert("origin", format!("http://{host}").parse().unwrap());
        headers.insert("authorization", format!("Bearer {token}").parse().unwrap());
        let (mut socket, response) = tokio_tungstenite::connect_async(request).await.unwrap();
        assert_eq!(response.status(), 101);
        socket
            .send(Message::text(format!("+ {route} ")))
            .await
            .unwrap();
        let mut seen = Vec::new();
        let found = tokio::time::timeout(timeout, async {
            while let Some(message) = socket.next().await {
                match message {
                    Ok(Message::Text(text)) if text.contains(needle) => return Some(text),
                    Ok(Message::Text(text)) => seen.push(text.to_string()),
                    Ok(_) => {}
                    Err(err) => {
                        seen.push(format!("websocket error: {err}"));
                        break;
                    }
                }
            }
            None
        })
        .await;
        let _ = socket.close(None).await;
        match found {
            Ok(Some(text)) => text.to_string(),
            _ => panic!(
                "instance {id} sent no message with `{needle}` within {timeout:?}; it sent: {seen:?}"
            ),
        }
    }
}
