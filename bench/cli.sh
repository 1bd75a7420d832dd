#!/usr/bin/env bash
# CLI benchmark: how long does `q8s-cli bundle deploy examples/hello` take to RUNNING with the
# app's Python environment already cached (total, and its steps: bundle, upload, start), and
# how long does `q8s-cli --version` take to start? See bench/README.md.
#
#   bash bench/cli.sh           (make bench builds q8s-cli and q8s-server first)
#
# Environment: Q8S_CLI, Q8S_SERVER (the release binaries), BENCH_DIR (scratch, default
# /var/tmp/q8s-bench-<uid>), BENCH_RUNS (timed deploys, default 5), BENCH_STARTUP_RUNS (for the
# start-up loop when hyperfine is missing, default 200).
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
RUNS=${BENCH_RUNS:-5}
STARTUP_RUNS=${BENCH_STARTUP_RUNS:-200}
Q8S_CLI=${Q8S_CLI:-${CARGO_TARGET_DIR:-$HOME/.cache/q8s-target}/release/q8s-cli}
APP=$ROOT/examples/hello

need_sandbox_tools
[ -x "$Q8S_CLI" ] || die "q8s-cli not found at $Q8S_CLI (cargo build --release -p q8s-cli)"

WORK=$BENCH_DIR/cli
rm -rf "$WORK" && mkdir -p "$WORK"

median() { sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
verdict() { awk -v v="$1" -v l="$2" 'BEGIN { print (v <= l) ? "ok" : "MISSED" }'; }

# A server of its own, and the CLI pointed at it (as CI would: Q8S_URL and Q8S_TOKEN alone).
start_server "$Q8S_SERVER" "$WORK/data" "$WORK/server.log"
export Q8S_URL=http://127.0.0.1:$PORT
Q8S_TOKEN=$(cat "$WORK/data/admin-token")
export Q8S_TOKEN
export Q8S_CONFIG=$WORK/no-config.toml

# The deploy's JSON on stdin, its start and end (ns) as arguments: "wall bundle upload start".
TIMINGS=$(cat <<'EOF'
import json, sys
d = json.load(sys.stdin)
assert d["instance"]["status"] == "RUNNING", d["instance"]
t = d["timings"]
wall = (int(sys.argv[2]) - int(sys.argv[1])) / 1e9
print(f"{wall:.3f} {t['bundle_seconds']:.4f} {t['upload_seconds']:.4f} {t['start_seconds']:.3f}")
EOF
)

# deploy: one `bundle deploy`; appends "wall bundle upload start" (seconds) to $WORK/runs,
# then terminates the instance so runs do not pile up.
deploy() {
  local started ended out instance
  started=$(date +%s%N)
  out=$("$Q8S_CLI" bundle deploy "$APP" -o json) || die "bundle deploy failed: $out"
  ended=$(date +%s%N)
  python3 -c "$TIMINGS" "$started" "$ended" <<<"$out" >>"$WORK/runs"
  instance=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["instance"]["id"])' <<<"$out")
  "$Q8S_CLI" instance terminate "$instance" -o json >/dev/null
}

# The first deploy builds the environment (uv, from its cache when warm); not counted.
: >"$WORK/runs"
deploy
COLD=$(awk '{print $1}' "$WORK/runs")
: >"$WORK/runs"
for _ in $(seq "$RUNS"); do deploy; done

col() { awk -v c="$1" '{print $c}' "$WORK/runs" | median; }
WALL=$(col 1); BUNDLE=$(col 2); UPLOAD=$(col 3); START=$(col 4)

# Start-up: `q8s-cli --version`, with hyperfine when installed, else a timed loop.
if command -v hyperfine >/dev/null 2>&1; then
  hyperfine -N --warmup 20 --runs "$STARTUP_RUNS" --export-json "$WORK/startup.json" \
    "$Q8S_CLI --version" >"$WORK/hyperfine.txt" 2>&1
  STARTUP_MS=$(python3 -c 'import json, sys; r = json.load(open(sys.argv[1]))["results"][0]; print("%.2f" % (r["median"] * 1000))' "$WORK/startup.json")
  HOW="hyperfine median of $STARTUP_RUNS"
else
  for _ in $(seq 20); do "$Q8S_CLI" --version >/dev/null; done
  started=$(date +%s%N)
  for _ in $(seq "$STARTUP_RUNS"); do "$Q8S_CLI" --version >/dev/null; done
  ended=$(date +%s%N)
  STARTUP_MS=$(awk -v a="$started" -v b="$ended" -v n="$STARTUP_RUNS" 'BEGIN {printf "%.2f", (b - a) / n / 1e6}')
  HOW="mean of a $STARTUP_RUNS-run loop (hyperfine not installed)"
fi

printf '\nq8s-cli bundle deploy examples/hello to RUNNING, environment cached (median of %s; nproc %s)\n\n' "$RUNS" "$(nproc)"
printf '  %-28s %10s\n' "step" "seconds"
printf '  %-28s %10s\n' "bundle (deploy version)" "$BUNDLE"
printf '  %-28s %10s\n' "upload (import + verify)" "$UPLOAD"
printf '  %-28s %10s\n' "start (launch to RUNNING)" "$START"
printf '  %-28s %10s\n' "total, wall clock" "$WALL"
printf '  %-28s %10s\n' "first deploy (env built)" "$COLD"
printf '\nq8s-cli --version start-up: %s ms (%s; target < 20 ms: %s)\n' \
  "$STARTUP_MS" "$HOW" "$(verdict "$STARTUP_MS" 20)"
