#!/usr/bin/env bash
# Replicas benchmark: proxy throughput on a cached asset of examples/hello through one load
# balancer (HAProxy, round robin) in front of one q8s-server replica, and in front of two
# replicas sharing a throw-away PostgreSQL (pg_virtualenv) and one bundle folder. The instance
# runs on replica A; B answers the asset from its own proxy cache (filled through its relay
# to A). Rounds alternate one replica / two replicas; the medians and their ratio are printed
# (target >= 1.6x), with the machine's core count, which bounds it: wrk, HAProxy and both
# servers share the cores. See bench/README.md.
#
#   bash bench/replicas.sh          (make bench builds q8s-server first)
#
# Environment: Q8S_SERVER (the binary), BENCH_DIR (scratch, default /var/tmp/q8s-bench-<uid>),
# BENCH_WRK_SECONDS (per wrk run, default 10), BENCH_WRK_CONNECTIONS (default 32),
# BENCH_WRK_ROUNDS (alternating rounds, default 3).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR=${BENCH_DIR:-/var/tmp/q8s-bench-$(id -u)}
WRK_SECONDS=${BENCH_WRK_SECONDS:-10}
WRK_CONNECTIONS=${BENCH_WRK_CONNECTIONS:-32}
WRK_ROUNDS=${BENCH_WRK_ROUNDS:-3}
Q8S_SERVER=${Q8S_SERVER:-${CARGO_TARGET_DIR:-$HOME/.cache/q8s-target}/release/q8s-server}
WORK=$BENCH_DIR/replicas

die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

for tool in curl wrk haproxy python3 psql pg_virtualenv uv bwrap setsid; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is missing (scripts/setup.sh scale bench)"
done
[ -x "$Q8S_SERVER" ] || die "q8s-server not found at $Q8S_SERVER (cargo build --release -p q8s-server)"

# The whole benchmark runs inside a throw-away PostgreSQL cluster (PG* variables set).
if [ -z "${Q8S_BENCH_IN_PG:-}" ]; then
  Q8S_BENCH_IN_PG=1 exec pg_virtualenv -o fsync=off bash "${BASH_SOURCE[0]}" "$@"
fi
DB_URL="postgres://$PGUSER:$PGPASSWORD@127.0.0.1:$PGPORT/q8s_replicas"
psql -q -c "CREATE DATABASE q8s_replicas" >/dev/null

rm -rf "$WORK" && mkdir -p "$WORK"
PIDS=()
stop_all() {
  local pid
  for pid in "${PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  PIDS=()
}
trap 'stop_all' EXIT
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
json() { python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
median_of() { printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
verdict() { awk -v v="$1" -v l="$2" 'BEGIN { print (v >= l) ? "ok" : "MISSED" }'; }

# The bundle: examples/hello as a zip.
python3 "$ROOT/bench/zip_app.py" "$ROOT/examples/hello" "$WORK/hello.qz"

# start_replica NAME: a release q8s-server on the shared database and bundle folder; sets PORT
# (not run in a subshell: the trap must know its pid).
start_replica() {
  local name=$1 port
  port=$(free_port)
  setsid "$Q8S_SERVER" --listen "127.0.0.1:$port" --data-dir "$WORK/data-$name" \
    --database "$DB_URL" --blob-store "file://$WORK/blobs" --node-name "$name" \
    >"$WORK/server-$name.log" 2>&1 </dev/null &
  PIDS+=($!)
  for _ in $(seq 600); do
    curl -sf "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
    sleep 0.05
  done
  curl -sf "http://127.0.0.1:$port/readyz" >/dev/null || { cat "$WORK/server-$name.log" >&2; die "replica $name did not start"; }
  PORT=$port
}

start_replica a
PORT_A=$PORT
TOKEN=$(cat "$WORK/data-a/admin-token")
start_replica b
PORT_B=$PORT
A=http://127.0.0.1:$PORT_A
AUTH=(-H "Authorization: Bearer $TOKEN")
APP_ID=$(curl -sf -X POST "${AUTH[@]}" --data-binary @"$WORK/hello.qz" \
  "$A/api/v1/apps?visibility=PRIVATE" | json id)
ID=$(curl -sf -X POST "${AUTH[@]}" -H 'Content-Type: application/json' \
  -d '{"visibility": "PRIVATE"}' "$A/api/v1/apps/$APP_ID/instances" | json id)
HOST="$ID.localhost:$PORT_A"
for _ in $(seq 6000); do
  code=$(curl -s -o /dev/null -w '%{http_code}' -H "Host: $HOST" "${AUTH[@]}" "$A/" || true)
  [ "$code" = 200 ] && break
  sleep 0.05
done
[ "$code" = 200 ] || die "the instance never answered (last $code)"
index=$(curl -sf -H "Host: $HOST" "${AUTH[@]}" "$A/")
script=$(grep -o 'src="[^"]*\.js"' <<<"$index" | head -n 1 | sed 's/src="//; s/"$//')
[ -n "$script" ] || die "no script in Qd's index page"
# Through B once, so that B's proxy cache holds the asset too (B relays the miss to A).
curl -sf -o /dev/null -H "Host: $HOST" "${AUTH[@]}" "http://127.0.0.1:$PORT_B$script" ||
  die "the asset does not come through replica B"

# start_lb NAME PORT BACKEND…: HAProxy on PORT, round robin over the backends' ports.
start_lb() {
  local name=$1 port=$2 i=0
  shift 2
  {
    printf 'global\n  maxconn 4096\n\ndefaults\n  mode http\n  timeout connect 5s\n'
    printf '  timeout client 60s\n  timeout server 60s\n  option http-keep-alive\n\n'
    printf 'frontend in\n  bind 127.0.0.1:%s\n  default_backend q8s\n\nbackend q8s\n  balance roundrobin\n' "$port"
    for backend in "$@"; do
      printf '  server r%s 127.0.0.1:%s\n' "$i" "$backend"
      i=$((i + 1))
    done
  } >"$WORK/$name.cfg"
  haproxy -q -db -f "$WORK/$name.cfg" >"$WORK/$name.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 100); do
    curl -s -o /dev/null "http://127.0.0.1:$port/readyz" && return
    sleep 0.05
  done
  die "haproxy $name did not start: $(cat "$WORK/$name.log")"
}
LB1=$(free_port)
start_lb one "$LB1" "$PORT_A"
LB2=$(free_port)
start_lb two "$LB2" "$PORT_A" "$PORT_B"

wrk_rps() {
  wrk -t2 -c"$WRK_CONNECTIONS" -d"${WRK_SECONDS}s" -H "Host: $HOST" "${AUTH[@]}" "$1" |
    awk '/^Requests\/sec:/ {print $2}'
}

one=() two=() ratios=()
for ((round = 0; round < WRK_ROUNDS; round++)); do
  r1=$(wrk_rps "http://127.0.0.1:$LB1$script")
  r2=$(wrk_rps "http://127.0.0.1:$LB2$script")
  one+=("$r1") two+=("$r2") ratios+=("$(ratio "$r2" "$r1")")
  echo "round $((round + 1)): one replica $r1 r/s, two replicas $r2 r/s; load average $(cut -d' ' -f1-3 /proc/loadavg)"
done

metric() { curl -sf "http://127.0.0.1:$1/metrics" | awk -v m="$2" '$1 == m {print $2}'; }
echo "replica B: $(metric "$PORT_B" q8s_proxy_requests_total) proxied requests, $(metric "$PORT_B" q8s_proxy_cache_hits_total) from its cache"

echo
echo "proxy through HAProxy (round robin), wrk -t2 -c$WRK_CONNECTIONS, $WRK_ROUNDS rounds of ${WRK_SECONDS}s each (medians);"
echo "asset $(basename "$script") of examples/hello, cached by each replica's proxy; the instance runs on A"
echo "machine: $(nproc) cores (wrk, HAProxy and both replicas share them)"
printf '%-44s %12s\n' "one replica behind the load balancer" "$(median_of "${one[@]}") r/s"
printf '%-44s %12s\n' "two replicas behind the load balancer" "$(median_of "${two[@]}") r/s"
r=$(median_of "${ratios[@]}")
echo
printf '%-44s %8s   %-8s %s\n' measure value target verdict
printf '%-44s %7sx   %-8s %s\n' "two replicas / one replica throughput" "$r" ">= 1.6x" "$(verdict "$r" 1.6)"
