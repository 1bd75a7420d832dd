import json
import os
import pwd
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

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
        elif url.path == "/headers":
            body = {name.lower(): value for name, value in self.headers.items()}
        elif url.path == "/probe":
            body = probe()
        elif url.path == "/write":
            with open("/data/note.txt", "w") as f:
                f.write(query["text"])
            body = {"written": query["text"]}
        elif url.path == "/read":
            body = {
                "text": open("/data/note.txt").read() if os.path.exists("/data/note.txt") else None
            }
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
