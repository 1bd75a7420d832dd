#!/usr/bin/env bash
# Bundle benchmark: q8s-cli against Info-ZIP, Python's shutil and a tar floor
# on the same ~150 MB app folder. See bench/README.md for how to read it.
#
#   bash bench/bundle.sh            (make bench builds q8s-cli first)
#
# Environment: Q8S_CLI (the binary), BENCH_DIR (cache, default
# /var/tmp/q8s-bench-<uid>), BENCH_RUNS (timed runs per tool, default 5).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR=${BENCH_DIR:-/var/tmp/q8s-bench-$(id -u)}
RUNS=${BENCH_RUNS:-5}
Q8S_CLI=${Q8S_CLI:-${CARGO_TARGET_DIR:-$HOME/.cache/q8s-target}/release/q8s-cli}
TREE=$BENCH_DIR/app-tree
OUT=$BENCH_DIR/out
TIME=/usr/bin/time

die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

for tool in zip unzip python3 tar "$TIME"; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is missing; run scripts/setup.sh bench"
done

# --- the reference tree, regenerated only when its generator changes -------
. "$ROOT/bench/tree.sh"
tree_files=$(find "$TREE" -type f | wc -l)
tree_bytes=$(find "$TREE" -type f -printf '%s\n' | awk '{s += $1} END {print s}')

# --- measuring -----------------------------------------------------------------
# measure NAME COMMAND...: runs COMMAND $RUNS times; records the median wall
# time in MEDIAN[NAME] and the largest peak RSS (KiB) in RSS[NAME].
declare -A MEDIAN RSS
measure() {
  local name=$1
  shift
  local times=() peak=0 i start end rss
  for ((i = 0; i < RUNS; i++)); do
    rm -rf "$OUT" && mkdir -p "$OUT"
    start=$(date +%s%N)
    "$TIME" -f '%M' -o "$BENCH_DIR/rss" "$@" >"$BENCH_DIR/log" 2>&1 ||
      { cat "$BENCH_DIR/log" >&2; return 1; }
    end=$(date +%s%N)
    times+=("$(((end - start) / 1000))")
    rss=$(tail -n 1 "$BENCH_DIR/rss")
    ((rss > peak)) && peak=$rss
  done
  MEDIAN[$name]=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR] = $1} END {printf "%.3f", a[int((NR + 1) / 2)] / 1e6}')
  RSS[$name]=$peak
}

size_of() { stat -c %s "$1"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
# verdict VALUE OP LIMIT: "ok" when VALUE OP LIMIT holds, "MISSED" otherwise.
verdict() { awk -v v="$1" -v l="$3" -v op="$2" 'BEGIN {
  ok = (op == ">=") ? v >= l : (op == "<=") ? v <= l : v < l; print ok ? "ok" : "MISSED" }'; }

echo "tree: $TREE"
echo "      $tree_files files, $(awk -v b="$tree_bytes" 'BEGIN {printf "%.1f MiB", b / 1048576}')"
echo "host: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); $RUNS runs per tool, median"

# One read of every file first, so every tool is measured with a warm page cache.
tar -cf - -C "$TREE" . | cat >/dev/null

have_q8s=yes
if [ ! -x "$Q8S_CLI" ]; then
  have_q8s=
  echo "bench: q8s-cli not found at $Q8S_CLI (build it: cargo build --release -p q8s-cli, or make bench)" >&2
elif ! "$Q8S_CLI" bundle "$TREE" -o "$BENCH_DIR/probe.qz" >"$BENCH_DIR/log" 2>&1 ||
  [ ! -s "$BENCH_DIR/probe.qz" ]; then
  have_q8s=
  echo "bench: '$Q8S_CLI bundle' did not write a bundle of the reference tree; skipping q8s:" >&2
  sed 's/^/    /' "$BENCH_DIR/log" >&2
fi
rm -f "$BENCH_DIR/probe.qz"

# GNU tar skips reading file contents when it writes to /dev/null, hence the cat.
measure tar bash -c 'tar -cf - -C "$1" . | cat >/dev/null' _ "$TREE"
measure zip bash -c 'cd "$1" && zip -r -6 -X -q "$2" .' _ "$TREE" "$OUT/zip.zip"
zip_size=$(size_of "$OUT/zip.zip")
zip_entries=$(unzip -Z1 "$OUT/zip.zip" | grep -vc '/$')
measure python python3 -c 'import shutil, sys; shutil.make_archive(sys.argv[1], "zip", sys.argv[2])' \
  "$OUT/python" "$TREE"
python_size=$(size_of "$OUT/python.zip")
if [ -n "$have_q8s" ]; then
  measure q8s "$Q8S_CLI" bundle "$TREE" -o "$OUT/q8s.qz"
  q8s_size=$(size_of "$OUT/q8s.qz")
  q8s_entries=$(unzip -Z1 "$OUT/q8s.qz" | wc -l)
  [ "$q8s_entries" -eq "$zip_entries" ] ||
    echo "bench: WARNING q8s bundled $q8s_entries files, zip $zip_entries: not the same work" >&2
fi

# --- report --------------------------------------------------------------------
echo
printf '%-22s %9s %11s %12s\n' tool "median s" "size MiB" "peak RSS MiB"
row() { printf '%-22s %9s %11s %12s\n' "$1" "${MEDIAN[$2]}" "$3" "$(awk -v k="${RSS[$2]}" 'BEGIN {printf "%.0f", k / 1024}')"; }
mib() { awk -v b="$1" 'BEGIN {printf "%.1f", b / 1048576}'; }
[ -n "$have_q8s" ] && row "q8s-cli bundle" q8s "$(mib "$q8s_size")"
row "zip -r -6 -X" zip "$(mib "$zip_size")"
row "shutil.make_archive" python "$(mib "$python_size")"
row "tar | cat (floor)" tar "-"

if [ -z "$have_q8s" ]; then
  echo
  echo "bench: no q8s-cli numbers; targets not checked" >&2
  exit 1
fi

speed_zip=$(ratio "${MEDIAN[zip]}" "${MEDIAN[q8s]}")
speed_python=$(ratio "${MEDIAN[python]}" "${MEDIAN[q8s]}")
size_zip=$(awk -v a="$q8s_size" -v b="$zip_size" 'BEGIN {printf "%.4f", a / b}')
rss_mib=$(awk -v k="${RSS[q8s]}" 'BEGIN {printf "%.0f", k / 1024}')
echo
printf '%-30s %8s   %-10s %s\n' measure value target verdict
printf '%-30s %7sx   %-10s %s\n' "speed vs zip (zip/q8s)" "$speed_zip" ">= 3x" "$(verdict "$speed_zip" ">=" 3)"
printf '%-30s %7sx   %-10s %s\n' "speed vs Python (python/q8s)" "$speed_python" ">= 5x" "$(verdict "$speed_python" ">=" 5)"
printf '%-30s %8s   %-10s %s\n' "size vs zip (q8s/zip)" "$size_zip" "<= 1.02" "$(verdict "$size_zip" "<=" 1.02)"
printf '%-30s %5s MiB   %-10s %s\n' "q8s-cli peak RSS" "$rss_mib" "< 150 MiB" "$(verdict "$rss_mib" "<" 150)"
printf '%-30s %7sx\n' "q8s time over the tar floor" "$(ratio "${MEDIAN[q8s]}" "${MEDIAN[tar]}")"
