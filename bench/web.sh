#!/usr/bin/env bash
# Browser bundle benchmark: the reference tree of bench/bundle.sh bundled in headless
# Chromium by q8s-wasm in a Worker (as the upload page does), by fflate's zipSync at level 6
# and by client-zip (store only), on the same files in the same browser; MB/s, output
# size, peak memory. The q8s-wasm archive must have the CLI's sha256. See bench/README.md.
#
#   bash bench/web.sh               (make bench builds the wasm package and q8s-cli first)
#
# Environment: Q8S_CLI (the binary), BENCH_DIR (cache, default /var/tmp/q8s-bench-<uid>),
# BENCH_WEB_RUNS (runs per tool, default 3), CHROMIUM (default /usr/bin/chromium).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR=${BENCH_DIR:-/var/tmp/q8s-bench-$(id -u)}
Q8S_CLI=${Q8S_CLI:-${CARGO_TARGET_DIR:-$HOME/.cache/q8s-target}/release/q8s-cli}
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

[ -f "$ROOT/bindings-wasm/pkg/q8s_wasm_bg.wasm" ] || die "no wasm package: run make build-web"
[ -d "$ROOT/node_modules/fflate" ] || die "node packages missing: run scripts/setup.sh web"
[ -x "$Q8S_CLI" ] || die "$Q8S_CLI is missing: cargo build --release -p q8s-cli"
. "$ROOT/bench/tree.sh"

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cli_sha=$(cd "$out" && "$Q8S_CLI" bundle "$TREE" -o json | python3 -c 'import json, sys; print(json.load(sys.stdin)["sha256"])')

echo "== browser bundle: q8s-wasm vs fflate vs client-zip (headless Chromium) =="
report=$(node "$ROOT/bench/web.mjs" "$TREE" "${BENCH_WEB_RUNS:-3}")
echo "$report"
wasm_sha=$(sed -n 's/^q8s-wasm sha256 //p' <<<"$report")
if [ "$wasm_sha" = "$cli_sha" ]; then
  echo "q8s-wasm archive = q8s-cli archive (sha256 $cli_sha)"
else
  die "q8s-wasm wrote $wasm_sha, q8s-cli $cli_sha: the bytes differ"
fi
