//! Resource exhaustion, tried by a hostile app against a real server with real sandboxes: a
//! `dd` past `VolumeSize`, a bounded fork loop, a CPU hog next to a quiet neighbour, and the disk
//! an app keeps after it is deleted (extracted bundle and environment); and the open-file limit
//! the server raises for itself but not for apps.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{Method, TestServer, mounts_under};
use reqwest::{Client, StatusCode, redirect};
use serde_json::Value;

const START: Duration = Duration::from_secs(180);
const MI: u64 = 1 << 20;

/// A plain HTTP app (standard library only) that attacks its own limits on request.
const HOG: &str = r#"
import json, os, resource, subprocess, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse, parse_qs

def fill(mb):
    # dd as a user would; its exit code and message say what stopped it.
    run = subprocess.run(
        ["dd", "if=/dev/zero", "of=/data/fill", "bs=1M", "count=" + str(mb), "conv=fsync"],
        capture_output=True, text=True)
    return {"code": run.returncode, "stderr": run.stderr, "bytes": os.path.getsize("/data/fill"),
            "free": os.statvfs("/data").f_bavail * os.statvfs("/data").f_frsize}

def spawn(n):
    started, error = [], None
    for _ in range(n):
        try:
            started.append(subprocess.Popen(["sleep", "300"]))
        except OSError as err:
            error = type(err).__name__ + ": " + str(err)
            break
    for p in started:
        p.kill()
    for p in started:
        p.wait()
    return {"started": len(started), "error": error}

def burn(procs, secs):
    deadline = time.monotonic() + secs
    children = []
    for _ in range(procs):
        pid = os.fork()
        if pid == 0:
            # A session of its own: the kernel's autogroup scheduling then weighs each
            # process like a whole login session.
            os.setsid()
            while time.monotonic() < deadline:
                pass
            os._exit(0)
        children.append(pid)
    for pid in children:
        os.waitpid(pid, 0)
    t = os.times()
    return {"cpu": t.children_user + t.children_system}

class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        url = urlparse(self.path)
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        if url.path == "/fill":
            body = fill(int(q["mb"]))
        elif url.path == "/spawn":
            body = spawn(int(q["n"]))
        elif url.path == "/burn":
            body = burn(int(q["procs"]), float(q["secs"]))
        elif url.path == "/write":
            with open("/data/note.txt", "w") as f:
                f.write(q["text"])
            body = {"written": q["text"]}
        elif url.path == "/limits":
            body = {"open_files": list(resource.getrlimit(resource.RLIMIT_NOFILE))}
        elif url.path == "/read":
            path = "/data/note.txt"
            body = {"text": open(path).read() if os.path.exists(path) else None}
        else:
            body = {"ok": True}
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"#;

/// The hog as a bundle named `name` (different names give different bundles).
fn hog_bundle(name: &str, volume_size: Option<&str>) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let volume = volume_size
        .map(|size| format!("VolumeMount = \"/data\"\nVolumeSize = \"{size}\"\n"))
        .unwrap_or_default();
    std::fs::write(
        dir.path().join("q-app.toml"),
        format!(
            "[App]\nName = \"ai.h2o.q8s.{name}\"\nVersion = \"1.0.0\"\nTitle = \"Hog\"\n\
             Description = \"Attacks its own limits.\"\nCategory = \"Other\"\n\
             Keywords = [\"test\"]\n\n[Runtime]\nModule = \"hog\"\n{volume}"
        ),
    )
    .unwrap();
    std::fs::write(dir.path().join("hog.py"), HOG).unwrap();
    let (out, qz) = common::bundle_dir(dir.path());
    let kept = dir.path().join(qz.file_name().unwrap());
    std::fs::rename(&qz, &kept).unwrap();
    drop(out);
    (dir, kept)
}

/// Imports a bundle as admin; returns the app's id and bundle sha256.
async fn import(server: &TestServer, bundle: &Path) -> (String, String) {
    let (status, app) = server.import(&server.admin_token, bundle, "PRIVATE").await;
    assert_eq!(status, StatusCode::CREATED, "{app}");
    (
        app["id"].as_str().unwrap().to_owned(),
        app["bundle"]["sha256"].as_str().unwrap().to_owned(),
    )
}

async fn launch(server: &TestServer, app: &str) -> String {
    let (status, instance) = server.launch(&server.admin_token, app, "PRIVATE").await;
    assert_eq!(status, StatusCode::CREATED, "{instance}");
    let id = instance["id"].as_str().unwrap().to_owned();
    server
        .wait_for_status(&server.admin_token, &id, "RUNNING", START)
        .await;
    id
}

async fn act(server: &TestServer, id: &str, action: &str) {
    let (method, path) = match action {
        "terminate" => (Method::DELETE, format!("/instances/{id}")),
        _ => (Method::POST, format!("/instances/{id}/{action}")),
    };
    let status = server
        .status(method, &server.admin_token, &path, None)
        .await;
    assert!(status.is_success(), "{action}: {status}");
}

/// GET through the proxy, waiting through 503/502 pages until the instance answers.
async fn get(server: &TestServer, id: &str, path: &str) -> Value {
    let addr: SocketAddr = format!("127.0.0.1:{}", server.port).parse().unwrap();
    let http = Client::builder()
        .redirect(redirect::Policy::none())
        .resolve(&format!("{id}.localhost"), addr)
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    let deadline = Instant::now() + START;
    loop {
        let r = http
            .get(format!("http://{id}.localhost:{}{path}", server.port))
            .bearer_auth(&server.admin_token)
            .send()
            .await
            .unwrap();
        if r.status() == StatusCode::OK {
            return r.json().await.unwrap();
        }
        assert!(
            Instant::now() < deadline
                && [StatusCode::SERVICE_UNAVAILABLE, StatusCode::BAD_GATEWAY].contains(&r.status()),
            "{path}: {}",
            r.status()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_volume_holds_no_more_than_its_volume_size_and_keeps_its_data() {
    let (_dir, bundle) = hog_bundle("volume", Some("10Mi"));
    let server = TestServer::start().await;
    let (app, _) = import(&server, &bundle).await;
    let id = launch(&server, &app).await;

    // 50 MiB into a 10Mi volume: the file system says no.
    let fill = get(&server, &id, "/fill?mb=50").await;
    eprintln!("dd of 50 MiB into a 10Mi volume: {fill}");
    let stderr = fill["stderr"].as_str().unwrap();
    assert_ne!(fill["code"], 0, "{fill}");
    assert!(stderr.contains("No space left on device"), "{fill}");
    let written = fill["bytes"].as_u64().unwrap();
    assert!(written <= 10 * MI, "{written} bytes in a 10Mi volume");
    assert!(written >= 5 * MI, "only {written} bytes of 10Mi usable");
    // What the app sees: a file system of its own of about VolumeSize.
    let image = server.data_dir().join(format!("volumes/{id}.img"));
    assert!(image.is_file(), "the volume is an image file");
    get(&server, &id, "/write?text=kept").await;

    // Suspend and resume ...
    act(&server, &id, "suspend").await;
    server
        .wait_for_status(&server.admin_token, &id, "SUSPENDED", START)
        .await;
    assert!(
        mounts_under(&server.data_dir().join("volumes")).is_empty(),
        "a suspended instance's volume is unmounted"
    );
    act(&server, &id, "resume").await;
    assert_eq!(get(&server, &id, "/read").await["text"], "kept");

    // ... and kill -9 of the server, data written just before included.
    get(&server, &id, "/write?text=kept through kill -9").await;
    let mut server = server;
    server.kill();
    let server = server.restart().await;
    assert_eq!(
        get(&server, &id, "/read").await["text"],
        "kept through kill -9"
    );
    // Still 10Mi after the restart.
    let again = get(&server, &id, "/fill?mb=50").await;
    assert!(
        again["bytes"].as_u64().unwrap() <= 10 * MI,
        "after the restart: {again}"
    );

    // Terminate removes the image and leaves nothing mounted.
    act(&server, &id, "terminate").await;
    server
        .wait_for_status(&server.admin_token, &id, "TERMINATED", START)
        .await;
    assert!(!image.exists(), "the image outlives terminate");
    assert!(!server.data_dir().join("volumes").join(&id).exists());
    assert_eq!(mounts_under(server.data_dir()), Vec::<PathBuf>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fork_loop_stops_at_the_pids_limit() {
    let (_dir, bundle) = hog_bundle("forks", None);
    let server = TestServer::start().await;
    let (app, _) = import(&server, &bundle).await;
    let id = launch(&server, &app).await;

    let spawned = get(&server, &id, "/spawn?n=2000").await;
    eprintln!("2000 sleeping processes asked for: {spawned}");
    let started = spawned["started"].as_u64().unwrap();
    assert!(
        started < 1024,
        "{started} processes started past the default limit of 1024: {spawned}"
    );
    assert!(started > 500, "the limit is far below 1024: {spawned}");
    assert!(
        spawned["error"]
            .as_str()
            .unwrap()
            .contains("Resource temporarily unavailable"),
        "{spawned}"
    );
    // The instance and the server carry on.
    assert_eq!(get(&server, &id, "/").await["ok"], true);
    let health = server
        .client
        .get(format!("{}/healthz", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let log = server.log();
    assert!(
        log.contains("pids"),
        "the server says how processes are limited: {log}"
    );
    act(&server, &id, "terminate").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_instance_does_not_starve_its_neighbour() {
    let (_dir, bundle) = hog_bundle("cpu", None);
    let server = TestServer::start().await;
    let (app, _) = import(&server, &bundle).await;
    let hog = launch(&server, &app).await;
    let quiet = launch(&server, &app).await;

    // Eight busy processes in one instance, one in the other, for the same three seconds; each
    // in a session of its own, so that autogroup scheduling does not share fairly by chance.
    let (hogged, neighbour) = tokio::join!(
        get(&server, &hog, "/burn?procs=8&secs=3"),
        get(&server, &quiet, "/burn?procs=1&secs=3"),
    );
    let (hogged, neighbour) = (
        hogged["cpu"].as_f64().unwrap(),
        neighbour["cpu"].as_f64().unwrap(),
    );
    eprintln!("CPU seconds in 3 s: hog {hogged:.2}, neighbour {neighbour:.2}");
    // With a weight per instance the two share the CPU about equally (the quiet one is held
    // to one core by its single process); per process, it would get an eighth of the hog's.
    assert!(
        neighbour >= 0.4 * hogged,
        "the neighbour got {neighbour:.2} s of CPU while the hog got {hogged:.2} s"
    );
    act(&server, &hog, "terminate").await;
    act(&server, &quiet, "terminate").await;
}

/// Entries of `<data>/<folder>` that are not temporary (`.`-prefixed).
/// The soft and hard limits of open files of process `pid`.
fn open_file_limits(pid: u32) -> (u64, u64) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let numbers: Vec<u64> = line
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    (numbers[0], numbers[1])
}

/// The server raises its soft limit of open files to the hard one (each instance holds a dozen
/// of its descriptors: 1024 would stop it near 70 instances), and an app, its Qd and its
/// install get back the limit the server started with: the raise is not theirs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_raises_its_open_file_limit_and_apps_keep_the_one_it_started_with() {
    let (_, hard) = open_file_limits(std::process::id());
    let started_with = 1000.min(hard);
    // Lowered in this test process (inherited by the server it starts): a distinct value.
    let lowered = libc::rlimit {
        rlim_cur: started_with,
        rlim_max: hard,
    };
    // SAFETY: setrlimit reads `lowered` only.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lowered) }, 0);
    let server = TestServer::start().await;
    assert_eq!(
        open_file_limits(server.pid()),
        (hard, hard),
        "the server's soft limit"
    );
    let (_dir, bundle) = hog_bundle("limits", None);
    let (app, _) = import(&server, &bundle).await;
    let id = launch(&server, &app).await;
    let limits = get(&server, &id, "/limits").await;
    assert_eq!(
        limits["open_files"],
        serde_json::json!([started_with, hard]),
        "the app's limits"
    );
}

fn entries(data: &Path, folder: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(data.join(folder))
        .map(|dir| {
            dir.flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|name| !name.starts_with('.'))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Waits until `check` holds (panics with `what` after a minute).
async fn within_a_minute(what: &str, check: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !check() {
        assert!(Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_an_app_frees_its_bundle_and_environment() {
    let (_one, first) = hog_bundle("gc.one", None);
    let (_two, second) = hog_bundle("gc.two", None);
    let server = TestServer::start().await;
    let data = server.data_dir().to_owned();
    let (app_one, sha_one) = import(&server, &first).await;
    let (app_two, sha_two) = import(&server, &second).await;
    let one = launch(&server, &app_one).await;
    let two = launch(&server, &app_two).await;
    let mut both = vec![sha_one.clone(), sha_two.clone()];
    both.sort();
    assert_eq!(entries(&data, "apps"), both);
    // Same requirements (none): one environment for both.
    let envs = entries(&data, "envs");
    assert_eq!(envs.len(), 1, "{envs:?}");

    // The first app goes: its extracted bundle goes, the environment stays for the second.
    act(&server, &one, "terminate").await;
    server
        .wait_for_status(&server.admin_token, &one, "TERMINATED", START)
        .await;
    let status = server
        .status(
            Method::DELETE,
            &server.admin_token,
            &format!("/apps/{app_one}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    within_a_minute("the deleted app's bundle is still extracted", || {
        entries(&data, "apps") == [sha_two.clone()]
    })
    .await;
    assert_eq!(entries(&data, "envs"), envs, "the environment still in use");
    assert_eq!(get(&server, &two, "/").await["ok"], true);

    // The second goes: nothing of either is left.
    act(&server, &two, "terminate").await;
    server
        .wait_for_status(&server.admin_token, &two, "TERMINATED", START)
        .await;
    let status = server
        .status(
            Method::DELETE,
            &server.admin_token,
            &format!("/apps/{app_two}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    within_a_minute(
        "the last app's bundle and environment are still there",
        || entries(&data, "apps").is_empty() && entries(&data, "envs").is_empty(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unused_extractions_go_at_start_and_with_the_periodic_sweep() {
    // What a crash or an interrupted deletion leaves: an extraction and an environment no app
    // uses.
    let orphan = |data: &Path, name: &str| {
        let bundle = data.join("apps").join(format!("{name:0>64}"));
        std::fs::create_dir_all(bundle.join("pkg")).unwrap();
        std::fs::write(bundle.join("pkg/big.bin"), vec![0; 1 << 20]).unwrap();
        std::fs::create_dir_all(data.join("envs").join(format!("{name}e")).join("bin")).unwrap();
    };
    let gone = |data: &Path| entries(data, "apps").is_empty() && entries(data, "envs").is_empty();

    // At the latest at the next start (the periodic sweep is far away here) ...
    let mut server = TestServer::start_with(&["--gc-interval", "3600"]).await;
    let data = server.data_dir().to_owned();
    server.kill();
    orphan(&data, "a1");
    let server = server.restart().await;
    within_a_minute("the start leaves an unused extraction", || gone(&data)).await;
    drop(server);

    // ... and while the server runs, with the next periodic sweep.
    let server = TestServer::start_with(&["--gc-interval", "1"]).await;
    let data = server.data_dir().to_owned();
    orphan(&data, "b2");
    within_a_minute("the periodic sweep leaves an unused extraction", || {
        gone(&data)
    })
    .await;
}
