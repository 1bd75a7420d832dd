#!/usr/bin/env bash
# Density benchmark: how many hello instances does one machine hold, how fast does a burst of
# launches reach RUNNING, and what does the server cost with every instance idle? The server
# runs with its defaults on a fresh data directory; the hello app's environment is built once
# before anything is timed (warm). See bench/README.md and issue 15.
#
#   bash bench/density.sh           (make bench builds q8s-server first)
#
# Environment: Q8S_SERVER (the binary), BENCH_DIR (scratch, default /var/tmp/q8s-bench-<uid>),
# BENCH_BURST (launches at once, default 100), BENCH_CAPACITY (instances to hold at once,
# default 300), BENCH_HOST_ROOM_MIB (memory left for the host, default 2048), BENCH_IDLE_SECONDS
# (default 30).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR=${BENCH_DIR:-/var/tmp/q8s-bench-$(id -u)}
BURST=${BENCH_BURST:-100}
CAPACITY=${BENCH_CAPACITY:-300}
HOST_ROOM=${BENCH_HOST_ROOM_MIB:-2048}
IDLE_SECONDS=${BENCH_IDLE_SECONDS:-30}
Q8S_SERVER=${Q8S_SERVER:-${CARGO_TARGET_DIR:-$HOME/.cache/q8s-target}/release/q8s-server}
APP=$ROOT/examples/hello

die() { printf 'bench: %s\n' "$*" >&2; exit 1; }
for tool in curl python3 uv bwrap setsid; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is missing; run scripts/setup-runtime.sh"
done
[ -x "$Q8S_SERVER" ] || die "q8s-server not found at $Q8S_SERVER (cargo build --release -p q8s-server)"

WORK=$BENCH_DIR/density
rm -rf "$WORK" && mkdir -p "$WORK"
SERVER_PID=
stop_server() {
  if [ -n "$SERVER_PID" ]; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
  fi
}
trap stop_server EXIT
json() { python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

python3 "$ROOT/bench/zip_app.py" "$APP" "$WORK/hello.qz"
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE=http://127.0.0.1:$PORT
# A session of its own, as under a service manager (see bench/service.sh).
setsid "$Q8S_SERVER" --listen "127.0.0.1:$PORT" --data-dir "$WORK/data" >"$WORK/server.log" 2>&1 </dev/null &
SERVER_PID=$!
for _ in $(seq 200); do
  curl -sf "$BASE/readyz" >/dev/null 2>&1 && break
  sleep 0.05
done
curl -sf "$BASE/readyz" >/dev/null || { tail -20 "$WORK/server.log" >&2; die "the server did not start"; }
TOKEN=$(cat "$WORK/data/admin-token")
APP_ID=$(curl -sf -X POST -H "Authorization: Bearer $TOKEN" --data-binary @"$WORK/hello.qz" \
  "$BASE/api/v1/apps?visibility=PRIVATE" | json id)

# Warm: one instance builds the environment (not timed), then goes.
id=$(curl -sf -X POST -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  -d '{"visibility": "PRIVATE"}' "$BASE/api/v1/apps/$APP_ID/instances" | json id)
for _ in $(seq 1200); do
  status=$(curl -sf -H "Authorization: Bearer $TOKEN" "$BASE/api/v1/instances/$id" | json status)
  [ "$status" = RUNNING ] && break
  [ "$status" = FAILED ] && die "the warm-up instance failed: $(tail -20 "$WORK/server.log")"
  sleep 0.1
done
curl -sf -X DELETE -H "Authorization: Bearer $TOKEN" "$BASE/api/v1/instances/$id" >/dev/null

echo "host: $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo), load average $(cut -d' ' -f1-3 /proc/loadavg)"
python3 "$ROOT/bench/density.py" --port "$PORT" --token "$TOKEN" --app "$APP_ID" \
  --server-pid "$SERVER_PID" --burst "$BURST" --capacity "$CAPACITY" \
  --host-room-mib "$HOST_ROOM" --idle-seconds "$IDLE_SECONDS" | tee "$WORK/result.txt"
result=$(tail -1 "$WORK/result.txt")
field() { python3 -c 'import json, sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$result" "$1"; }
verdict() { awk -v v="$1" -v l="$3" -v op="$2" 'BEGIN {
  ok = (op == ">=") ? v >= l : (op == "<") ? v < l : v <= l; print ok ? "ok" : "MISSED" }'; }

echo
echo "issue 15's measurements before this work (same machine kind): a burst of 100 took 71.9 s,"
echo "each instance cost 63 MiB."
printf '%-46s %10s   %-10s %s\n' measure value target verdict
printf '%-46s %8s s   %-10s %s\n' "burst of $BURST, all RUNNING" "$(field burst_wall_s)" "<= 30 s" \
  "$(verdict "$(field burst_wall_s)" "<=" 30)"
printf '%-46s %8s s   %-10s %s\n' "  per-instance start p50 / p99" "$(field start_p50_s) / $(field start_p99_s)" "-" "-"
printf '%-46s %10s   %-10s %s\n' "instances RUNNING at once, answering" "$(field capacity_answering)" ">= 300" \
  "$(verdict "$(field capacity_answering)" ">=" 300)"
printf '%-46s %6s MiB   %-10s %s\n' "  memory per instance" "$(field mib_per_instance)" "(63 before)" "-"
printf '%-46s %8s %%   %-10s %s\n' "server idle CPU, one core" "$(field idle_cpu_percent)" "< 2 %" \
  "$(verdict "$(field idle_cpu_percent)" "<" 2)"
