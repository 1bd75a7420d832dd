#!/usr/bin/env bash
# Density benchmark: how many hello instances does one machine hold, how fast does a burst of
# launches reach RUNNING, and what does the server cost with every instance idle? The server
# runs with its defaults on a fresh data directory; the hello app's environment is built once
# before anything is timed (warm). The same measurements run first on a baseline: q8s-server
# and examples/hello as they were before issue 15's work (bench/baseline.sh builds it once), so
# "before" and "now" come from the same run on the same machine. See bench/README.md.
#
#   bash bench/density.sh           (make bench builds q8s-server first)
#
# Environment: Q8S_SERVER (the binary), BENCH_DIR (scratch, default /var/tmp/q8s-bench-<uid>),
# BENCH_BURST (launches at once, default 100), BENCH_CAPACITY (instances to hold at once,
# default 300), BENCH_HOST_ROOM_MIB (memory left for the host, default 2048), BENCH_IDLE_SECONDS
# (default 30), BENCH_BASELINE_REV (the baseline's commit; see bench/baseline.sh), BENCH_BASELINE=0
# (measure only the current build).
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
BURST=${BENCH_BURST:-100}
CAPACITY=${BENCH_CAPACITY:-300}
HOST_ROOM=${BENCH_HOST_ROOM_MIB:-2048}
IDLE_SECONDS=${BENCH_IDLE_SECONDS:-30}
APP=$ROOT/examples/hello
need_sandbox_tools

WORK=$BENCH_DIR/density
rm -rf "$WORK" && mkdir -p "$WORK"
mem_available_mib() { awk '/MemAvailable/ {print int($2 / 1024)}' /proc/meminfo; }

# Waits (at most 5 minutes each) until the memory a measurement's instances held is given back
# and the load of tearing them down is gone (1-minute load average below the core count), so
# the next measurement starts on the same machine as the first.
settle() {
  local want=$1 cores
  cores=$(nproc)
  for _ in $(seq 300); do
    [ "$(mem_available_mib)" -ge "$want" ] && break
    sleep 1
  done
  [ "$(mem_available_mib)" -ge "$want" ] \
    || echo "bench: only $(mem_available_mib) MiB available after 5 minutes (${want} before)" >&2
  for _ in $(seq 60); do
    awk -v c="$cores" '{ exit !($1 < c) }' /proc/loadavg && return 0
    sleep 5
  done
  echo "bench: load average still $(cut -d' ' -f1 /proc/loadavg) after 5 minutes" >&2
}

# measure LABEL SERVER APP: one server on a fresh data directory, the app imported and its
# environment built (not timed), then density.py; its last line (JSON) goes to $WORK/LABEL.json.
measure() {
  local label=$1 server=$2 app=$3 dir=$WORK/$1
  mkdir -p "$dir"
  python3 "$ROOT/bench/zip_app.py" "$app" "$dir/hello.qz"
  start_server "$server" "$dir/data" "$dir/server.log"
  local base=$BASE
  local token app_id id status
  token=$(cat "$dir/data/admin-token")
  app_id=$(curl -sf -X POST -H "Authorization: Bearer $token" --data-binary @"$dir/hello.qz" \
    "$base/api/v1/apps?visibility=PRIVATE" | json id)
  # Warm: one instance builds the environment (not timed), then goes.
  id=$(curl -sf -X POST -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    -d '{"visibility": "PRIVATE"}' "$base/api/v1/apps/$app_id/instances" | json id)
  for _ in $(seq 1200); do
    status=$(curl -sf -H "Authorization: Bearer $token" "$base/api/v1/instances/$id" | json status)
    [ "$status" = RUNNING ] && break
    [ "$status" = FAILED ] && die "the $label warm-up instance failed: $(tail -20 "$dir/server.log")"
    sleep 0.1
  done
  curl -sf -X DELETE -H "Authorization: Bearer $token" "$base/api/v1/instances/$id" >/dev/null
  echo "== $label: $server"
  echo "host: $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo), load average $(cut -d' ' -f1-3 /proc/loadavg)"
  python3 "$ROOT/bench/density.py" --port "$PORT" --token "$token" --app "$app_id" \
    --server-pid "$SERVER_PID" --burst "$BURST" --capacity "$CAPACITY" \
    --host-room-mib "$HOST_ROOM" --idle-seconds "$IDLE_SECONDS" | tee "$dir/result.txt"
  tail -1 "$dir/result.txt" >"$WORK/$label.json"
  stop_server
}

FREE_AT_START=$(mem_available_mib)
if [ "${BENCH_BASELINE:-1}" != 0 ]; then
  BASELINE_SERVER=$(bash "$ROOT/bench/baseline.sh")
  measure before "$BASELINE_SERVER" "$(dirname "$BASELINE_SERVER")/hello"
  settle $((FREE_AT_START - 512))
fi
measure now "$Q8S_SERVER" "$APP"

field() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1])).get(sys.argv[2], "-"))' "$WORK/$1.json" "$2"; }
verdict() { awk -v v="$1" -v l="$3" -v op="$2" 'BEGIN {
  ok = (op == ">=") ? v >= l : (op == "<") ? v < l : v <= l; print ok ? "ok" : "MISSED" }'; }
before() { if [ -f "$WORK/before.json" ]; then field before "$1"; else echo -; fi; }
ratio() { # before / now, or now / before with "up"
  [ -f "$WORK/before.json" ] || { echo -; return; }
  local b n
  b=$(field before "$1") n=$(field now "$1")
  if [ "$b" = - ] || [ "$n" = - ]; then echo -; return; fi
  awk -v b="$b" -v n="$n" -v up="${2:-}" 'BEGIN {
    r = (up == "up") ? (b > 0 ? n / b : 0) : (n > 0 ? b / n : 0); printf "%.2fx", r }'
}

echo
[ -f "$WORK/before.json" ] && echo "before: q8s-server and examples/hello at ${BENCH_BASELINE_REV:-8717789} (bench/baseline.sh); now: $Q8S_SERVER"
printf '%-40s %12s %12s %8s   %-8s %s\n' measure before now better target verdict
printf '%-40s %10s s %10s s %8s   %-8s %s\n' "burst of $BURST, all RUNNING" "$(before burst_wall_s)" \
  "$(field now burst_wall_s)" "$(ratio burst_wall_s)" "<= 30 s" "$(verdict "$(field now burst_wall_s)" "<=" 30)"
printf '%-40s %12s %12s %8s   %-8s %s\n' "  per-instance start p50 / p99, s" \
  "$(before start_p50_s) / $(before start_p99_s)" "$(field now start_p50_s) / $(field now start_p99_s)" \
  "$(ratio start_p50_s)" "-" "-"
printf '%-40s %12s %12s %8s   %-8s %s\n' "instances RUNNING at once, answering" \
  "$(before capacity_answering)" "$(field now capacity_answering)" "$(ratio capacity_answering up)" \
  ">= 300" "$(verdict "$(field now capacity_answering)" ">=" 300)"
printf '%-40s %8s MiB %8s MiB %8s   %-8s %s\n' "  memory per instance" "$(before mib_per_instance)" \
  "$(field now mib_per_instance)" "$(ratio mib_per_instance)" "-" "-"
printf '%-40s %12s %12s %8s   %-8s %s\n' "  processes per instance" "$(before processes_per_instance)" \
  "$(field now processes_per_instance)" "$(ratio processes_per_instance)" "-" "-"
printf '%-40s %8s KiB %8s KiB %8s   %-8s %s\n' "  server memory per instance" \
  "$(before server_kib_per_instance)" "$(field now server_kib_per_instance)" "-" "-" "-"
printf '%-40s %12s %12s %8s   %-8s %s\n' "  server open files per instance" \
  "$(before server_fds_per_instance)" "$(field now server_fds_per_instance)" "-" "-" "-"
printf '%-40s %10s %% %10s %% %8s   %-8s %s\n' "server idle CPU, one core" "$(before idle_cpu_percent)" \
  "$(field now idle_cpu_percent)" "-" "< 2 %" "$(verdict "$(field now idle_cpu_percent)" "<" 2)"
for label in before now; do
  failed=$( [ -f "$WORK/$label.json" ] && field "$label" burst_failed || echo -)
  [ "$failed" = - ] || echo "$label: the burst did not converge: $failed"
done
