# Shared by the benchmarks that run a real q8s-server with sandboxed instances (sourced, not
# run): checks for the tools, one server at a time started on a free loopback port in a session
# of its own (as under a service manager) and stopped on exit, and JSON field reading.
#
# Sets ROOT, BENCH_DIR and Q8S_SERVER (defaults as the Makefile's); start_server sets PORT,
# BASE and SERVER_PID.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR=${BENCH_DIR:-/var/tmp/q8s-bench-$(id -u)}
Q8S_SERVER=${Q8S_SERVER:-${CARGO_TARGET_DIR:-$HOME/.cache/q8s-target}/release/q8s-server}

die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

# need_sandbox_tools: what a server with the local runtime needs, and the server itself.
need_sandbox_tools() {
  local tool
  for tool in curl python3 uv bwrap setsid; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is missing; run scripts/setup-runtime.sh"
  done
  [ -x "$Q8S_SERVER" ] || die "q8s-server not found at $Q8S_SERVER (cargo build --release -p q8s-server)"
}

# json FIELD: the field of the JSON object on stdin.
json() { python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

SERVER_PID=
stop_server() {
  if [ -n "$SERVER_PID" ]; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
  fi
}
trap stop_server EXIT

# start_server BINARY DATA LOG [ARGS...]: starts it on a free loopback port with DATA as its
# data directory and waits until it is ready (dies with the log's tail if it is not).
start_server() {
  local binary=$1 data=$2 log=$3
  shift 3
  PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  BASE=http://127.0.0.1:$PORT
  setsid "$binary" --listen "127.0.0.1:$PORT" --data-dir "$data" "$@" >"$log" 2>&1 </dev/null &
  SERVER_PID=$!
  for _ in $(seq 200); do
    curl -sf "$BASE/readyz" >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  curl -sf "$BASE/readyz" >/dev/null || { tail -20 "$log" >&2; die "$binary did not start"; }
}
