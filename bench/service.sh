#!/usr/bin/env bash
# Service benchmark: how fast does examples/hello start (launch → first HTTP 200 through the
# proxy), with its Python environment cached and with a new one, beside `python -m venv` +
# `pip install -r requirements.txt`; and what does the proxy cost against talking to Qd
# directly (wrk on the same static assets, loopback). See bench/README.md.
#
#   bash bench/service.sh           (make bench builds q8s-server first)
#
# Environment: Q8S_SERVER (the binary), BENCH_DIR (scratch, default /var/tmp/q8s-bench-<uid>),
# BENCH_RUNS (cached starts, default 5), BENCH_NEW_RUNS (new-environment starts and pip runs,
# default 3), BENCH_WRK_SECONDS (per wrk run, default 10), BENCH_WRK_CONNECTIONS (default 32),
# BENCH_WRK_ROUNDS (alternating direct/proxied wrk runs per asset, default 3), BENCH_PARTS
# (`all`, the default, or `proxy` for the proxy throughput part alone).
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
RUNS=${BENCH_RUNS:-5}
NEW_RUNS=${BENCH_NEW_RUNS:-3}
WRK_SECONDS=${BENCH_WRK_SECONDS:-10}
WRK_CONNECTIONS=${BENCH_WRK_CONNECTIONS:-32}
WRK_ROUNDS=${BENCH_WRK_ROUNDS:-3}
PARTS=${BENCH_PARTS:-all}
case $PARTS in all | proxy) ;; *) die "BENCH_PARTS is all or proxy, not $PARTS" ;; esac
APP=$ROOT/examples/hello

need_sandbox_tools
command -v wrk >/dev/null 2>&1 || die "wrk is missing; run scripts/setup-runtime.sh"

WORK=$BENCH_DIR/service
rm -rf "$WORK" && mkdir -p "$WORK"

now_ms() { echo $(($(date +%s%N) / 1000000)); }
median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
verdict() { awk -v v="$1" -v l="$3" -v op="$2" 'BEGIN {
  ok = (op == ">=") ? v >= l : v <= l; print ok ? "ok" : "MISSED" }'; }

# The bundle: examples/hello as a zip (the server verifies it like any other).
python3 "$ROOT/bench/zip_app.py" "$APP" "$WORK/hello.qz"

# fresh_server NAME [FLAG…]: a fresh server on a fresh data directory; sets BASE, PORT, TOKEN,
# APP_ID. (lib.sh starts it in a session of its own, as under a service manager: with the
# kernel's autogroup scheduling, a server in this script's session would share one CPU share
# with wrk, and the load generator would slow the server it measures.)
fresh_server() {
  stop_server
  local name=$1
  shift
  local data=$WORK/data-$name
  start_server "$Q8S_SERVER" "$data" "$WORK/server-$name.log" "$@"
  TOKEN=$(cat "$data/admin-token")
  APP_ID=$(curl -sf -X POST -H "Authorization: Bearer $TOKEN" --data-binary @"$WORK/hello.qz" \
    "$BASE/api/v1/apps?visibility=PRIVATE" | json id)
}

# launch: starts an instance and prints "<id> <ms from the request to the first 200>".
launch() {
  local start id code
  start=$(now_ms)
  id=$(curl -sf -X POST -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    -d '{"visibility": "PRIVATE"}' "$BASE/api/v1/apps/$APP_ID/instances" | json id)
  for _ in $(seq 12000); do
    code=$(curl -s -o /dev/null -w '%{http_code}' -H "Host: $id.localhost:$PORT" \
      -H "Authorization: Bearer $TOKEN" "$BASE/" || true)
    [ "$code" = 200 ] && break
    sleep 0.01
  done
  [ "$code" = 200 ] || die "instance $id never answered (last $code)"
  echo "$id $(($(now_ms) - start))"
}

terminate() { curl -sf -X DELETE -H "Authorization: Bearer $TOKEN" "$BASE/api/v1/instances/$1" >/dev/null; }

echo "host: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "app:  examples/hello ($(tr '\n' ' ' <"$APP/requirements.txt"))"

if [ "$PARTS" = all ]; then
  # uv's cache is warm for every "new environment" start (as after any earlier install): the
  # server keeps one per app owner in its data directory, filled by a first start not counted.
  uv venv -q "$WORK/warm" && VIRTUAL_ENV=$WORK/warm uv pip install -q -r "$APP/requirements.txt"
  fresh_server new
  read -r id _ < <(launch)
  terminate "$id"

  # --- start with a new environment: the built environments removed before each start --------
  new_times=()
  for ((i = 0; i < NEW_RUNS; i++)); do
    rm -rf "$WORK/data-new/envs/"*
    read -r id ms < <(launch)
    new_times+=("$ms")
    terminate "$id"
  done

  # --- start with the environment cached: more instances of the same version -----------------
  cached_times=()
  for ((i = 0; i < RUNS; i++)); do
    read -r id ms < <(launch)
    cached_times+=("$ms")
    terminate "$id"
  done

  # --- the same environment by hand: python -m venv + pip (pip's cache warm too) ---------------
  pip_install() {
    rm -rf "$WORK/pip-venv"
    python3 -m venv "$WORK/pip-venv"
    "$WORK/pip-venv/bin/pip" install -q --disable-pip-version-check -r "$APP/requirements.txt" >/dev/null
  }
  pip_install
  pip_times=()
  for ((i = 0; i < NEW_RUNS; i++)); do
    start=$(now_ms)
    pip_install
    pip_times+=("$(($(now_ms) - start))")
  done
  uv_times=()
  for ((i = 0; i < NEW_RUNS; i++)); do
    rm -rf "$WORK/uv-venv"
    start=$(now_ms)
    uv venv -q "$WORK/uv-venv" && VIRTUAL_ENV=$WORK/uv-venv uv pip install -q -r "$APP/requirements.txt"
    uv_times+=("$(($(now_ms) - start))")
  done

  new_ms=$(printf '%s\n' "${new_times[@]}" | median)
  cached_ms=$(printf '%s\n' "${cached_times[@]}" | median)
  pip_ms=$(printf '%s\n' "${pip_times[@]}" | median)
  uv_ms=$(printf '%s\n' "${uv_times[@]}" | median)
fi

# --- proxy throughput: wrk on Qd directly and through the proxy ---------------------------------
# Twice: as configured by default, where the proxy answers what HTTP lets it keep (Qd's static
# files) from its cache, and with `--proxy-cache 0`, where every request goes to Qd (the cost of
# the relay itself, as for answers that cannot be kept).
cpu_ticks() { [ -n "$1" ] && [ -r "/proc/$1/stat" ] && awk '{print $14 + $15}' "/proc/$1/stat" || echo 0; }
TICK=$(getconf CLK_TCK)

# qd_pid_of INSTANCE: the pid of the instance's Qd (`/venv/waved`, run with its instance id).
qd_pid_of() {
  local env
  for env in /proc/[0-9]*/environ; do
    tr '\0' '\n' 2>/dev/null <"$env" | grep -qx "Q8S_INSTANCE_ID=$1" || continue
    local pid=${env#/proc/}
    pid=${pid%/environ}
    if tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -q '^/venv/waved'; then
      echo "$pid"
      return
    fi
  done
}

WRK=(wrk)
# wrk_run URL [HEADERS…] (the command in WRK, default wrk): prints "<requests/s> <p99 ms> <requests> <server ticks> <Qd ticks>".
wrk_run() {
  local url=$1
  shift
  local out s0 q0
  s0=$(cpu_ticks "$SERVER_PID") q0=$(cpu_ticks "$qd_pid")
  out=$("${WRK[@]}" -t2 -c"$WRK_CONNECTIONS" -d"${WRK_SECONDS}s" --latency "$@" "$url")
  local rps p99 n
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  n=$(awk '/ requests in / {print $1}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out" | awk '
    /us$/ {sub(/us$/, ""); printf "%.2f", $1 / 1000; next}
    /ms$/ {sub(/ms$/, ""); printf "%.2f", $1; next}
    /s$/  {sub(/s$/, "");  printf "%.2f", $1 * 1000; next}')
  echo "$rps $p99 $n $(($(cpu_ticks "$SERVER_PID") - s0)) $(($(cpu_ticks "$qd_pid") - q0))"
}

# Direct and proxied runs alternate, WRK_ROUNDS times per asset: load from elsewhere on the
# machine then hits both sides alike, and each round gives one ratio; the median is reported.
declare -A RATIO ADDED_P99 RPS_D RPS_P CPU_SERVER CPU_QD CPU_QD_P SIZE
median_of() { printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
us_per_request() { awk -v t="$1" -v n="$2" -v hz="$TICK" 'BEGIN {printf "%.1f", n ? t * 1e6 / hz / n : 0}'; }
MODES=(cache relay)
for mode in "${MODES[@]}"; do
  case $mode in
    cache) [ "$PARTS" = all ] || fresh_server proxy ;; # the proxy part only: a server of its own
    relay) fresh_server proxy-relay --proxy-cache 0 ;;
  esac
  read -r id _ < <(launch)
  qd_port=$(curl -sf -H "Authorization: Bearer $TOKEN" "$BASE/api/v1/instances/$id/logs" |
    sed -n 's/.*starting Qd on 127\.0\.0\.1:\([0-9]*\).*/\1/p' | tail -n 1)
  [ -n "$qd_port" ] || die "cannot find Qd's port in the instance log"
  index=$(curl -sf -H "Host: $id.localhost:$PORT" -H "Authorization: Bearer $TOKEN" "$BASE/")
  script=$(grep -o 'src="[^"]*\.js"' <<<"$index" | head -n 1 | sed 's/src="//; s/"$//')
  [ -n "$script" ] || die "no script in Qd's index page"
  # The processes whose CPU time is counted: the server, and Qd (its waved process).
  qd_pid=$(qd_pid_of "$id")
  # Qd listens in the instance's own network namespace: the direct runs are made from inside it
  # (its loopback, as the proxy's connections), with nsenter.
  in_qd_net=()
  if [ -n "$qd_pid" ] && [ "$(id -u)" -eq 0 ]; then
    in_qd_net=(nsenter --net="/proc/$qd_pid/ns/net")
  fi
  for asset in /manifest.json "$script"; do
    ratios=() added=() direct=() proxied=() server_us=() qd_us=() qd_p_us=()
    for ((round = 0; round < WRK_ROUNDS; round++)); do
      WRK=("${in_qd_net[@]}" wrk)
      read -r d_rps d_p99 d_n _ d_qd < <(wrk_run "http://127.0.0.1:$qd_port$asset")
      WRK=(wrk)
      read -r p_rps p_p99 p_n p_server p_qd < <(wrk_run "$BASE$asset" \
        -H "Host: $id.localhost:$PORT" -H "Authorization: Bearer $TOKEN")
      ratios+=("$(ratio "$p_rps" "$d_rps")")
      added+=("$(awk -v a="$p_p99" -v b="$d_p99" 'BEGIN {printf "%.2f", a - b}')")
      direct+=("$d_rps") proxied+=("$p_rps")
      server_us+=("$(us_per_request "$p_server" "$p_n")")
      qd_us+=("$(us_per_request "$d_qd" "$d_n")")
      qd_p_us+=("$(us_per_request "$p_qd" "$p_n")")
    done
    k="$mode $asset"
    RATIO[$k]=$(median_of "${ratios[@]}")
    ADDED_P99[$k]=$(median_of "${added[@]}")
    RPS_D[$k]=$(median_of "${direct[@]}")
    RPS_P[$k]=$(median_of "${proxied[@]}")
    CPU_SERVER[$k]=$(median_of "${server_us[@]}")
    CPU_QD[$k]=$(median_of "${qd_us[@]}")
    CPU_QD_P[$k]=$(median_of "${qd_p_us[@]}")
    SIZE[$k]=$("${in_qd_net[@]}" curl -s -o /dev/null -w '%{size_download}' "http://127.0.0.1:$qd_port$asset")
    echo "wrk rounds for $(basename "$asset"), proxy $mode: ratios ${ratios[*]}; load average $(cut -d' ' -f1-3 /proc/loadavg)"
  done
  terminate "$id"
done

# --- report ----------------------------------------------------------------------------------------
echo
if [ "$PARTS" = all ]; then
  printf '%-52s %10s\n' "start of examples/hello to first 200 via proxy" "median ms"
  printf '%-52s %10s\n' "  environment cached ($RUNS starts)" "$cached_ms"
  printf '%-52s %10s\n' "  new environment, uv cache warm ($NEW_RUNS starts)" "$new_ms"
  printf '%-52s %10s\n' "  of which the environment (new - cached)" "$((new_ms - cached_ms))"
  printf '%-52s %10s\n' "  python -m venv + pip install -r (cache warm)" "$pip_ms"
  printf '%-52s %10s\n' "  uv venv + uv pip install -r (cache warm)" "$uv_ms"
  echo
fi
echo "proxy: wrk -t2 -c$WRK_CONNECTIONS, $WRK_ROUNDS rounds of ${WRK_SECONDS}s direct + ${WRK_SECONDS}s proxied per asset (medians);"
echo "       cache: as configured by default; relay: --proxy-cache 0, every request goes to Qd."
echo "       CPU = time the q8s-server process (proxied runs) and Qd (direct runs, and proxied runs"
echo "       in parentheses) used per request"
printf '%-28s %-6s %11s %11s %7s %9s %11s %15s\n' asset proxy "direct r/s" "proxy r/s" ratio "+p99 ms" "server us/r" "Qd us/r"
for asset in /manifest.json "$script"; do
  for mode in "${MODES[@]}"; do
    k="$mode $asset"
    printf '%-28s %-6s %11s %11s %6sx %9s %11s %15s\n' "$(basename "$asset") (${SIZE[$k]} B)" "$mode" \
      "${RPS_D[$k]}" "${RPS_P[$k]}" "${RATIO[$k]}" "${ADDED_P99[$k]}" \
      "${CPU_SERVER[$k]}" "${CPU_QD[$k]} (${CPU_QD_P[$k]})"
  done
done
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"

small=${RATIO[cache /manifest.json]}
large=${RATIO[cache $script]}
echo
printf '%-44s %8s   %-8s %s\n' measure value target verdict
if [ "$PARTS" = all ]; then
  printf '%-44s %6s s   %-8s %s\n' "start, environment cached" "$(awk -v m="$cached_ms" 'BEGIN {printf "%.2f", m / 1000}')" "<= 2 s" \
    "$(verdict "$cached_ms" "<=" 2000)"
  env_ms=$((new_ms - cached_ms))
  printf '%-44s %7sx   %-8s %s\n' "environment: venv + pip / q8s (new - cached)" "$(ratio "$pip_ms" "$env_ms")" ">= 3x" \
    "$(verdict "$(ratio "$pip_ms" "$env_ms")" ">=" 3)"
  printf '%-44s %7sx\n' "whole new start: venv + pip / q8s" "$(ratio "$pip_ms" "$new_ms")"
fi
printf '%-44s %7sx   %-8s %s\n' "proxy/direct throughput, small asset" "$small" ">= 0.7x" "$(verdict "$small" ">=" 0.7)"
printf '%-44s %7sx   %-8s %s\n' "proxy/direct throughput, Wave's script" "$large" ">= 0.7x" "$(verdict "$large" ">=" 0.7)"
printf '%-44s %7sx   %-8s %s\n' "  the relay alone (--proxy-cache 0), small" "${RATIO[relay /manifest.json]}" "-" "reported"
printf '%-44s %7sx   %-8s %s\n' "  the relay alone (--proxy-cache 0), script" "${RATIO[relay $script]}" "-" "reported"
