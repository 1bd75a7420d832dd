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

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
RUNS=${BENCH_WAKE_RUNS:-20}
IDLE=${BENCH_WAKE_IDLE:-2s}
APP=$ROOT/examples/hello
need_sandbox_tools

WORK=$BENCH_DIR/wake
rm -rf "$WORK" && mkdir -p "$WORK"
# percentile P: the P-th percentile (nearest rank) of the numbers on stdin.
percentile() { sort -n | awk -v p="$1" '{a[NR] = $1} END {r = int((p * NR + 99) / 100); if (r < 1) r = 1; print a[r]}'; }
verdict() { awk -v v="$1" -v l="$2" 'BEGIN { print (v <= l) ? "ok" : "MISSED" }'; }

python3 "$ROOT/bench/zip_app.py" "$APP" "$WORK/hello.qz"
DATA=$WORK/data
start_server "$Q8S_SERVER" "$DATA" "$WORK/server.log" --idle-suspend "$IDLE"
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
