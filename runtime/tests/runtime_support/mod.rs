//! Shared by the `runtime_*` tests: bundles made from folders or inline files, a recording
//! status sink, process checks. The tests drive `LocalRuntime` directly, with real bubblewrap,
//! uv and waved, in a temporary data directory.

#![allow(dead_code, unused_imports)]

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

/// The live processes of instance `id` (see [`q8s_testing::process::pids_of`]).
pub fn pids_of(id: Uuid) -> Vec<u32> {
    q8s_testing::process::pids_of(&id.to_string())
}

/// [`pids_of`] with their command lines, as `pid: command args…`.
pub fn processes_of(id: Uuid) -> Vec<String> {
    q8s_testing::process::processes_of(&id.to_string())
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

pub use q8s_testing::fs::files_under;
pub use q8s_testing::probe::PROBE;

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
