//! Test harness shared by the server's integration tests: a REAL `q8s-server` process on a
//! free loopback port with a temporary data directory, and helpers to act as its users.
#![allow(dead_code, unused_imports)] // each test file uses a different subset

pub mod backend;
pub mod kubernetes;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub use q8s_testing::apps::{app_variant, bundle_dir, hello_variant};
pub use q8s_testing::fs::{files_under, mounts_under};
pub use q8s_testing::probe::PROBE;
pub use q8s_testing::process::{pids_of, processes_of};
pub use q8s_testing::{ServerProcess, free_port, repo_root};

pub use reqwest::Method;
use reqwest::{Client, Response, StatusCode, redirect};
use serde_json::{Value, json};

/// A running server and a client to it; the process is killed when this is dropped.
pub struct TestServer {
    process: ServerProcess,
    /// An HTTP client that does not follow redirects.
    pub client: Client,
    /// The stores `Q8S_TEST_BACKEND` added (kept across restarts).
    stores: backend::Stores,
}

/// The process's fields (`url`, `port`, `admin_token`, `data`) and methods (`log`, `kill`,
/// `terminate`, `data_dir`, …) are the server's.
impl std::ops::Deref for TestServer {
    type Target = ServerProcess;
    fn deref(&self) -> &ServerProcess {
        &self.process
    }
}

impl std::ops::DerefMut for TestServer {
    fn deref_mut(&mut self) -> &mut ServerProcess {
        &mut self.process
    }
}

/// A client that does not follow redirects (auth tests look at them).
pub fn client() -> Client {
    Client::builder()
        .redirect(redirect::Policy::none())
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap()
}

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_q8s-server"))
}

impl TestServer {
    fn with_stores(process: ServerProcess, stores: backend::Stores) -> TestServer {
        TestServer {
            process,
            client: client(),
            stores,
        }
    }

    /// Starts `binary` with `args`, `env` and the stores `Q8S_TEST_BACKEND` asks for (those
    /// `args` do not name).
    fn spawn(args: &[&str], env: &[(&str, &str)]) -> TestServer {
        let stores = backend::stores_for(args);
        let mut all: Vec<&str> = stores.args.iter().map(String::as_str).collect();
        all.extend_from_slice(args);
        let mut env = env.to_vec();
        if stores.bucket.is_some() {
            env.extend(q8s_testing::s3::CREDENTIALS);
        }
        Self::with_stores(ServerProcess::start_with_env(binary(), &all, &env), stores)
    }

    /// Starts a server with default settings.
    pub async fn start() -> TestServer {
        Self::start_with(&[]).await
    }

    /// Starts a server on the in-memory fake runtime (`--runtime fake`): instances run at once
    /// and answer `fake instance <id>: <METHOD> <path>`; for tests that do not test the sandbox.
    pub async fn start_fake() -> TestServer {
        Self::start_with(&["--runtime", "fake"]).await
    }

    /// Starts a server on the fake runtime whose metadata store is a fresh database on the
    /// test process's throw-away PostgreSQL ([`q8s_testing::postgres`]), for the API tests
    /// that run on both stores. A restart keeps the database.
    pub async fn start_fake_on_postgres() -> TestServer {
        Self::start_on_postgres_with(&["--runtime", "fake"]).await
    }

    /// Starts a server with extra command-line arguments whose metadata store is a fresh
    /// PostgreSQL database.
    pub async fn start_on_postgres_with(args: &[&str]) -> TestServer {
        let url = q8s_testing::postgres::fresh_database();
        let mut all = vec!["--database", url.as_str()];
        all.extend_from_slice(args);
        Self::start_with(&all).await
    }

    /// Starts a server with extra command-line arguments (e.g. `--max-bundle-size 100000`).
    pub async fn start_with(args: &[&str]) -> TestServer {
        Self::spawn(args, &[])
    }

    /// Starts a server with extra command-line arguments and environment variables (kept
    /// across restarts).
    pub async fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> TestServer {
        Self::spawn(args, env)
    }

    /// Starts a server whose bundles are in `moto`'s bucket (`--blob-store s3://…`, the
    /// credentials in its environment), with extra command-line arguments.
    pub async fn start_on_s3(moto: &q8s_testing::s3::MotoServer, args: &[&str]) -> TestServer {
        let url = moto.url();
        let mut all = vec!["--blob-store", url.as_str()];
        all.extend_from_slice(args);
        Self::spawn(&all, &q8s_testing::s3::CREDENTIALS)
    }

    /// Starts another replica of `first`: the same store and blob store (`args` must name
    /// them, as `first`'s did), the same bucket credentials, a data directory of its own.
    pub async fn start_replica_of(first: &TestServer, args: &[&str]) -> TestServer {
        let env = q8s_testing::s3::CREDENTIALS;
        let process = ServerProcess::start_joining(binary(), args, &env, &first.admin_token);
        Self::with_stores(process, backend::Stores::local())
    }

    /// Starts a server whose data directory is a disk of `bytes` of its own (see
    /// [`ServerProcess::start_on_disk_of`]).
    pub async fn start_on_disk_of(bytes: u64) -> TestServer {
        Self::with_stores(
            ServerProcess::start_on_disk_of(binary(), bytes),
            backend::Stores::local(),
        )
    }

    /// Starts a new server process on the same data directory (after [`kill`] or
    /// [`terminate`]; kills the old process if it still runs).
    pub async fn restart(self) -> TestServer {
        Self::with_stores(self.process.respawn(None), self.stores)
    }

    /// Starts a new server process on the same data directory with other command-line
    /// arguments (kills the old process if it still runs).
    /// The stores the first start was given by `Q8S_TEST_BACKEND` are kept, unless `args`
    /// name their own.
    pub async fn restart_with(self, args: &[&str]) -> TestServer {
        let mut all: Vec<&str> = Vec::new();
        for pair in self.stores.args.chunks(2) {
            if !args.contains(&pair[0].as_str()) {
                all.extend(pair.iter().map(String::as_str));
            }
        }
        all.extend_from_slice(args);
        let stores = self.stores.clone();
        Self::with_stores(self.process.respawn(Some(&all)), stores)
    }

    /// Whether this server keeps its bundles in a bucket (`Q8S_TEST_BACKEND=postgres+s3`),
    /// not in its data directory.
    pub fn on_s3(&self) -> bool {
        self.stores.bucket.is_some()
    }

    /// The `--database` and `--blob-store` arguments `Q8S_TEST_BACKEND` gave this server (for
    /// other `q8s-server` commands on its stores, e.g. `user add`).
    pub fn store_args(&self) -> &[String] {
        &self.stores.args
    }

    /// Starts a server on SQLite and the folder in its data directory whatever
    /// `Q8S_TEST_BACKEND` says: for tests about those local files themselves.
    pub async fn start_on_local_stores_with(args: &[&str]) -> TestServer {
        Self::with_stores(
            ServerProcess::start(binary(), args),
            backend::Stores::local(),
        )
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

    /// How many items a list path (`/apps`, `/instances?scope=all`, …) answers `token` with.
    pub async fn count(&self, token: &str, path: &str) -> usize {
        let (code, list) = self.get(token, path).await;
        assert_eq!(code, StatusCode::OK, "{path}: {list}");
        list.as_array()
            .unwrap_or_else(|| panic!("{path}: not a list: {list}"))
            .len()
    }

    /// Sends `method` to an API path with a token and an optional JSON body; returns status
    /// and JSON (Null when not JSON).
    pub async fn send(
        &self,
        method: Method,
        token: &str,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .client
            .request(method, self.api(path))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        json_of(request.send().await.unwrap()).await
    }

    /// Sends `method` to an API path with a token and an optional JSON body; returns the status.
    pub async fn status(
        &self,
        method: Method,
        token: &str,
        path: &str,
        body: Option<Value>,
    ) -> StatusCode {
        self.send(method, token, path, body).await.0
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

    /// A client that does not follow redirects, sends from `from` (any 127.x address reaches
    /// the server on loopback) and resolves `<id>.localhost` names to the server.
    pub fn client_from(&self, from: [u8; 4], instances: &[&str]) -> Client {
        let addr: std::net::SocketAddr = format!("127.0.0.1:{}", self.port).parse().unwrap();
        let mut builder = Client::builder()
            .redirect(redirect::Policy::none())
            .local_address(std::net::IpAddr::from(from))
            .timeout(Duration::from_secs(60));
        for id in instances {
            builder = builder.resolve(&format!("{id}.localhost"), addr);
        }
        builder.build().unwrap()
    }

    /// `http://<id>.localhost:<port><path>`: instance `id`'s URL on this server.
    pub fn instance_url(&self, id: &str, path: &str) -> String {
        format!("http://{id}.localhost:{}{path}", self.port)
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

    /// Imports `examples/hello` (PRIVATE) with `token` and launches a PRIVATE instance of it:
    /// the app's and the instance's ids.
    pub async fn launch_hello(&self, token: &str) -> (String, String) {
        let (status, app) = self.import(token, &hello_bundle(), "PRIVATE").await;
        assert_eq!(status, StatusCode::CREATED, "{app}");
        let app_id = app["id"].as_str().unwrap().to_owned();
        let (status, instance) = self.launch(token, &app_id, "PRIVATE").await;
        assert_eq!(status, StatusCode::CREATED, "{instance}");
        (app_id, instance["id"].as_str().unwrap().to_owned())
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

    /// Files under `<data-dir>/blobs` (bundles stored); on S3 (`Q8S_TEST_BACKEND`), the keys
    /// of the bucket's bundles.
    pub fn blob_files(&self) -> Vec<PathBuf> {
        match &self.stores.bucket {
            Some((moto, bucket)) => moto
                .keys_in(bucket, "bundles/")
                .into_iter()
                .map(PathBuf::from)
                .collect(),
            None => files_under(&self.data_dir().join("blobs")),
        }
    }

    /// On S3, the keys of the bucket's multipart uploads neither completed nor aborted,
    /// once none are left or after 10 s (an abandoned upload is aborted in the background);
    /// empty for a folder.
    pub async fn pending_uploads(&self) -> Vec<String> {
        let Some((moto, bucket)) = &self.stores.bucket else {
            return Vec::new();
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let pending = moto.pending_uploads_in(bucket);
            if pending.is_empty() || std::time::Instant::now() > deadline {
                return pending;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Imports bundle bytes with `token`, declaring `digest` as their `Repr-Digest`.
    pub async fn import_declared(
        &self,
        token: &str,
        bytes: Vec<u8>,
        digest: &str,
    ) -> (StatusCode, Value) {
        let r = self
            .client
            .post(self.api("/apps?visibility=PRIVATE"))
            .bearer_auth(token)
            .header("content-type", "application/octet-stream")
            .header("repr-digest", digest)
            .body(bytes)
            .send()
            .await
            .unwrap();
        json_of(r).await
    }

    /// Files under `<data-dir>/tmp` (uploads in progress).
    pub fn tmp_files(&self) -> Vec<PathBuf> {
        files_under(&self.data_dir().join("tmp"))
    }
}

/// `examples/hello` as a bundle, built once per test process (see
/// [`q8s_testing::apps::hello_bundle`]).
pub fn hello_bundle() -> PathBuf {
    q8s_testing::apps::hello_bundle(Path::new(env!("CARGO_TARGET_TMPDIR")))
}

/// The sha256 of `bytes` in lowercase hex, as the API writes it.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Status and JSON body (Null when the body is not JSON).
pub async fn json_of(r: Response) -> (StatusCode, Value) {
    let status = r.status();
    let text = r.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
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
