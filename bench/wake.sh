#!/usr/bin/env bash
# Wake benchmark: how long does the first request to a sleeping examples/hello instance take
# until its page answers (the server wakes it and holds the request until Qd answers), with its
# Python environment warm. The server runs with a short --idle-suspend; each run waits until
# the instance is asleep, then times one GET / through the proxy. See bench/README.md.
#
#   bash bench/wake.sh           (make bench builds q8s-server first)
#
# Environment: Q8S_SERVER (the binary), BENCH_DIR (scratch, default /var/tmp/q8s-bench-<uid>),
# BENCH_WAKE_RUNS (wakes timed, default 20), BENCH_WAKE_IDLE (the --idle-suspend, default 2s).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR=${BENCH_DIR:-/var/tmp/q8s-bench-$(id -u)}
RUNS=${BENCH_WAKE_RUNS:-20}
IDLE=${BENCH_WAKE_IDLE:-2s}
Q8S_SERVER=${Q8S_SERVER:-${CARGO_TARGET_DIR:-$HOME/.cache/q8s-target}/release/q8s-server}
APP=$ROOT/examples/hello

die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

for tool in curl python3 uv bwrap setsid; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is missing; run scripts/setup-runtime.sh"
done
[ -x "$Q8S_SERVER" ] || die "q8s-server not found at $Q8S_SERVER (cargo build --release -p q8s-server)"

WORK=$BENCH_DIR/wake
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
# percentile P: the P-th percentile (nearest rank) of the numbers on stdin.
percentile() { sort -n | awk -v p="$1" '{a[NR] = $1} END {r = int((p * NR + 99) / 100); if (r < 1) r = 1; print a[r]}'; }
verdict() { awk -v v="$1" -v l="$2" 'BEGIN { print (v <= l) ? "ok" : "MISSED" }'; }

python3 "$ROOT/bench/zip_app.py" "$APP" "$WORK/hello.qz"
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE=http://127.0.0.1:$PORT
DATA=$WORK/data
# In a session of its own, as under a service manager (see service.sh).
setsid "$Q8S_SERVER" --listen "127.0.0.1:$PORT" --data-dir "$DATA" --idle-suspend "$IDLE" \
  >"$WORK/server.log" 2>&1 </dev/null &
SERVER_PID=$!
for _ in $(seq 200); do
  curl -sf "$BASE/readyz" >/dev/null 2>&1 && break
  sleep 0.05
done
TOKEN=$(cat "$DATA/admin-token")
AUTH="Authorization: Bearer $TOKEN"
APP_ID=$(curl -sf -X POST -H "$AUTH" --data-binary @"$WORK/hello.qz" \
  "$BASE/api/v1/apps?visibility=PRIVATE" | json id)
ID=$(curl -sf -X POST -H "$AUTH" -H 'Content-Type: application/json' \
  -d '{"visibility": "PRIVATE"}' "$BASE/api/v1/apps/$APP_ID/instances" | json id)

status() { curl -sf -H "$AUTH" "$BASE/api/v1/instances/$ID" | json "$1"; }
# wait_for STATUS: polls the instance until it has STATUS (the first start builds the
# environment: minutes at most).
wait_for() {
  for _ in $(seq 6000); do
    [ "$(status status)" = "$1" ] && return 0
    sleep 0.1
  done
  die "instance $ID never became $1 ($(status status_message))"
}
# page: one GET / through the proxy; prints "<http code> <seconds>".
page() {
  curl -s -o /dev/null -w '%{http_code} %{time_total}\n' -H "Host: $ID.localhost:$PORT" \
    -H "$AUTH" "$BASE/"
}

echo "host: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "app:  examples/hello, --idle-suspend $IDLE, $RUNS wakes"
wait_for RUNNING
read -r code _ < <(page)
[ "$code" = 200 ] || die "the running instance answered $code"
awake=()
for _ in 1 2 3 4 5; do
  read -r code seconds < <(page)
  awake+=("$seconds")
done

times=()
for ((i = 0; i < RUNS; i++)); do
  wait_for SUSPENDED
  case $(status status_message) in asleep:*) ;; *) die "suspended, but not asleep: $(status status_message)" ;; esac
  read -r code seconds < <(page)
  [ "$code" = 200 ] || die "wake $i answered $code"
  times+=("$seconds")
done

ms() { awk -v s="$1" 'BEGIN {printf "%.0f", s * 1000}'; }
p50=$(printf '%s\n' "${times[@]}" | percentile 50)
p99=$(printf '%s\n' "${times[@]}" | percentile 99)
max=$(printf '%s\n' "${times[@]}" | percentile 100)
warm=$(printf '%s\n' "${awake[@]}" | percentile 50)
wakes=$(grep -c 'woken by a request' "$WORK/server.log" || true)
echo
printf '%-40s %10s\n' "first request to a sleeping instance" "ms"
printf '%-40s %10s   target <= 1000 ms: %s\n' "  p50" "$(ms "$p50")" "$(verdict "$p50" 1)"
printf '%-40s %10s\n' "  p99" "$(ms "$p99")"
printf '%-40s %10s\n' "  max" "$(ms "$max")"
printf '%-40s %10s\n' "a request to the awake instance (p50)" "$(ms "$warm")"
echo "wakes the server logged: $wakes (expected $RUNS)"
