//! Shared by the `runtime_*` tests: bundles made from folders or inline files, a recording
//! status sink, process checks. The tests drive `LocalRuntime` directly, with real bubblewrap,
//! uv and waved, in a temporary data directory.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use q8s_core::archive::{DeterministicZipWriter, compress_entry};
use q8s_runtime::{
    BundleSource, InstanceSpec, LocalRuntime, LocalRuntimeConfig, StatusSink, Upstream,
};
use sha2::{Digest, Sha256};
use uuid::Uuid;

pub use q8s_runtime::conformance::Recorder;

/// A runtime on a fresh data directory.
pub struct Harness {
    pub data: tempfile::TempDir,
    pub sink: Arc<Recorder>,
    pub runtime: LocalRuntime,
}

impl Harness {
    pub fn new(configure: impl FnOnce(&mut LocalRuntimeConfig)) -> Self {
        let data = tempfile::tempdir().unwrap();
        let sink = Arc::new(Recorder::default());
        let runtime = Self::runtime_on(data.path(), &sink, configure);
        Harness {
            data,
            sink,
            runtime,
        }
    }

    /// Another runtime on the same data directory (a server restart).
    pub fn runtime_on(
        data_dir: &Path,
        sink: &Arc<Recorder>,
        configure: impl FnOnce(&mut LocalRuntimeConfig),
    ) -> LocalRuntime {
        let mut config = LocalRuntimeConfig::new(data_dir);
        config.stop_grace = Duration::from_secs(3);
        config.restart_backoff = Duration::from_millis(200);
        config.restart_backoff_max = Duration::from_secs(2);
        configure(&mut config);
        LocalRuntime::new(config, Arc::clone(sink) as Arc<dyn StatusSink>)
    }

    pub fn log_path(&self, id: Uuid) -> PathBuf {
        self.data.path().join("logs").join(format!("{id}.log"))
    }

    pub fn log(&self, id: Uuid) -> String {
        std::fs::read_to_string(self.log_path(id)).unwrap_or_default()
    }
}

/// A `.qz` with `files` (name → content), written into `dir`; returns its path and sha256.
pub fn bundle(dir: &Path, files: &[(&str, Vec<u8>)]) -> (PathBuf, String) {
    let mut sorted: Vec<_> = files.to_vec();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let mut writer = DeterministicZipWriter::new(Vec::new());
    for (name, bytes) in &sorted {
        writer.add(&compress_entry(name, bytes, false)).unwrap();
    }
    let bytes = writer.finish().unwrap();
    let sha = format!("{:x}", Sha256::digest(&bytes));
    let path = dir.join(format!("{sha}.qz"));
    std::fs::write(&path, &bytes).unwrap();
    (path, sha)
}

/// The files of a folder (recursively), as bundle entries.
pub fn folder_files(root: &Path) -> Vec<(String, Vec<u8>)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                if path
                    .file_name()
                    .is_some_and(|n| n == "__pycache__" || n == ".venv")
                {
                    continue;
                }
                walk(root, &path, out);
            } else {
                let name = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                out.push((name, std::fs::read(&path).unwrap()));
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out
}

/// `examples/hello` of the repository.
pub fn hello_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/hello")
}

/// A spec for a bundle, with defaults the tests adjust.
pub fn spec(bundle: &(PathBuf, String), module: &str) -> InstanceSpec {
    let instance_id = Uuid::new_v4();
    InstanceSpec {
        instance_id,
        app_id: Uuid::new_v4(),
        owner_id: Uuid::nil(),
        app_name: "test.app".into(),
        app_version: "1.0.0".into(),
        bundle_sha256: bundle.1.clone(),
        bundle: BundleSource::LocalFile(bundle.0.clone()),
        module: module.into(),
        env: Vec::new(),
        volume_mount: None,
        volume_size: None,
        memory_limit: None,
        memory_reservation: None,
        instance_url: format!("http://{instance_id}.localhost:8008/"),
    }
}

/// The live processes whose environment names the instance (bwrap, Qd, the app and their
/// children), zombies left out.
pub fn pids_of(id: Uuid) -> Vec<u32> {
    let needle = format!("Q8S_INSTANCE_ID={id}");
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
            continue;
        };
        let Ok(environ) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        if !environ
            .split(|&b| b == 0)
            .any(|var| var == needle.as_bytes())
        {
            continue;
        }
        let state = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        // Zombies awaiting their parent's wait are gone already in all but name.
        if !state
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z'))
        {
            found.push(pid);
        }
    }
    found
}

/// [`pids_of`] with their command lines, as `pid: command args…`.
pub fn processes_of(id: Uuid) -> Vec<String> {
    pids_of(id)
        .into_iter()
        .map(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            format!(
                "{pid}: {}",
                String::from_utf8_lossy(&cmdline).replace('\0', " ")
            )
        })
        .collect()
}

/// A plain HTTP GET over loopback: (status, body).
pub async fn http_get(upstream: &Upstream, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = upstream.connect().await.unwrap();
    let request = format!(
        "GET {path} HTTP/1.0\r\nHost: {}\r\n\r\n",
        upstream.authority()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

pub const MI: u64 = 1 << 20;
pub const START: Duration = Duration::from_secs(120);

/// A plain (non-Wave) app serving HTTP on `$PORT` that reports on its sandbox:
/// `/env` (its environment), `/probe` (what it can see and write), `/write?…` and `/read`
/// (a file in its volume at `/data`), `/file?path=…` (a file's text, or the error reading it),
/// `/alloc?mb=N` (holds N MiB).
pub const PROBE: &str = r#"
import json, os, pwd, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse, parse_qs

held = []

def attempt(action):
    try:
        action()
        return "ok"
    except OSError as err:
        return type(err).__name__ + ": " + (err.strerror or str(err))

def probe():
    hidden = os.environ.get("HOST_DATA_DIR", "/nonexistent")
    return {
        "uid": os.getuid(),
        "user": pwd.getpwuid(os.getuid()).pw_name,
        "cwd": os.getcwd(),
        "write_app": attempt(lambda: open("/app/x", "w").write("x")),
        "write_venv": attempt(lambda: open("/venv/x", "w").write("x")),
        "write_tmp": attempt(lambda: open("/tmp/x", "w").write("x")),
        "data_dir_visible": os.path.exists(hidden),
        "root_entries": sorted(os.listdir("/")),
        "shadow_visible": os.path.exists("/etc/shadow"),
        "pid1": open("/proc/1/cmdline", "rb").read().split(b"\0")[0].decode(),
    }

class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        url = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        if url.path == "/env":
            body = dict(os.environ)
        elif url.path == "/probe":
            body = probe()
        elif url.path == "/write":
            with open("/data/note.txt", "w") as f:
                f.write(query["text"])
            body = {"written": query["text"]}
        elif url.path == "/read":
            body = {"text": open("/data/note.txt").read() if os.path.exists("/data/note.txt") else None}
        elif url.path == "/file":
            try:
                body = {"text": open(query["path"]).read()}
            except OSError as err:
                body = {"error": type(err).__name__}
        elif url.path == "/alloc":
            chunk = bytearray(int(query["mb"]) * 1024 * 1024)
            for i in range(0, len(chunk), 4096):
                chunk[i] = 1
            held.append(chunk)
            body = {"held_mb": sum(len(c) for c in held) // (1024 * 1024)}
        else:
            body = {"path": url.path}
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

if __name__ == "__main__":
    mb = int(os.environ.get("ALLOC_AT_START_MB", "0"))
    if mb:
        print(f"allocating {mb} MiB", flush=True)
        chunk = bytearray(mb * 1024 * 1024)
        for i in range(0, len(chunk), 4096):
            chunk[i] = 1
        held.append(chunk)
    if os.environ.get("CRASH_AT_START"):
        print("crashing on purpose", flush=True)
        sys.exit(3)
    port = int(os.environ["PORT"])
    print(f"probe listening on {port}", flush=True)
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
"#;

/// A bundle holding the probe as module `probe`.
pub fn probe_bundle(dir: &Path) -> (PathBuf, String) {
    bundle(dir, &[("probe.py", PROBE.as_bytes().to_vec())])
}

/// GET returning the JSON body.
pub async fn get_json(upstream: &Upstream, path: &str) -> serde_json::Value {
    let (status, body) = http_get(upstream, path).await;
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

/// A GET whose connection may break (the app gets killed while answering).
pub async fn http_get_raw(upstream: &Upstream, path: &str) -> std::io::Result<Vec<u8>> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = upstream.connect().await?;
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\n\r\n").as_bytes())
        .await?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await?;
    Ok(raw)
}
