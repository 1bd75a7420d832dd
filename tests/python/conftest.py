"""Fixtures of the Python suite: the repository, the Rust binaries, and a REAL q8s-server on a
free loopback port with a temporary data directory (as the server's own tests start it)."""

from __future__ import annotations

import http.client
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import q8s

REPO = Path(__file__).resolve().parents[2]
VECTORS = REPO / "tests" / "vectors"


def target_dir() -> Path:
    return Path(os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache" / "q8s-target"))


def binary(name: str, env_var: str) -> Path:
    """A built binary of the workspace: ``$<env_var>``, else the newest of the release and
    debug builds in the cargo target dir."""
    if os.environ.get(env_var):
        return Path(os.environ[env_var])
    built = [
        p for p in (target_dir() / "release" / name, target_dir() / "debug" / name) if p.exists()
    ]
    if not built:
        pytest.fail(f"{name} is not built: run `cargo build -p {name}` (or set {env_var})")
    return max(built, key=lambda p: p.stat().st_mtime)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str
    port: int
    data: Path
    admin_token: str
    log: Path

    def get(self, host: str, path: str = "/", token: str | None = None) -> tuple[int, bytes]:
        """GET through the server with a ``Host`` header (instances are ``<id>.localhost``)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {"Host": host}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        try:
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def get_instance(self, instance: q8s.Instance, token: str | None = None) -> tuple[int, bytes]:
        """GET ``/`` of an instance through the proxy."""
        from urllib.parse import urlsplit

        parts = urlsplit(instance.url)
        return self.get(parts.netloc, parts.path or "/", token)


@pytest.fixture(autouse=True, scope="session")
def _temporary_files_under_pytest(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[None]:
    """Every temporary file of the suite — the docstring examples' ``tempfile.mkdtemp()``, the
    notebook kernel's (it inherits ``TMPDIR``), the server's data — goes under pytest's own
    temporary folder, which pytest prunes to its last three runs, instead of piling up in /tmp."""
    base = tmp_path_factory.mktemp("tmp")
    # The server's sandboxes run as an unprivileged host user (when the tests run as root),
    # which must pass through every folder above the data directory: pytest keeps its own
    # private (0700), so they let others pass, without listing them (0711).
    basetemp = tmp_path_factory.getbasetemp()
    for folder in (basetemp.parent, basetemp, base):
        if folder.stat().st_uid == os.geteuid():
            folder.chmod(0o711)
    base = str(base)
    saved = os.environ.get("TMPDIR"), tempfile.tempdir
    os.environ["TMPDIR"] = base
    tempfile.tempdir = base
    yield
    if saved[0] is None:
        os.environ.pop("TMPDIR", None)
    else:
        os.environ["TMPDIR"] = saved[0]
    tempfile.tempdir = saved[1]


@pytest.fixture(scope="session")
def server() -> Iterator[Server]:
    """A q8s-server for the whole session (instances share its prepared environments)."""
    exe = binary("q8s-server", "Q8S_SERVER")
    data = Path(tempfile.mkdtemp(prefix="q8s-pytest-"))
    log = data.with_suffix(".log")
    port = free_port()
    with open(log, "wb") as log_file:
        process = subprocess.Popen(
            [str(exe), "--listen", f"127.0.0.1:{port}", "--data-dir", str(data)],
            stdout=subprocess.DEVNULL,
            stderr=log_file,
            env={**os.environ, "Q8S_LOG": "info"},
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                pytest.fail(f"q8s-server exited early: {log.read_text()}")
            try:
                status, _ = Server(url, port, data, "", log).get(f"127.0.0.1:{port}", "/readyz")
                if status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"q8s-server did not become ready: {log.read_text()}")
            time.sleep(0.05)
        token = (data / "admin-token").read_text().strip()
        yield Server(url, port, data, token, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(data, ignore_errors=True)
        log.unlink(missing_ok=True)


@pytest.fixture(scope="session")
def client(server: Server) -> q8s.Client:
    """A client signed in as the admin."""
    return q8s.Client(url=server.url, token=server.admin_token)


@pytest.fixture
def isolated_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No configuration from the machine: an empty config path and no Q8S_* variables."""
    for var in ("Q8S_URL", "Q8S_TOKEN", "Q8S_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    config = tmp_path / "config.toml"
    monkeypatch.setenv("Q8S_CONFIG", str(config))
    return config
