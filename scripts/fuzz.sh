#!/usr/bin/env bash
# Fuzzes q8s-core with cargo-fuzz (libFuzzer): the untrusted-archive reader,
# the writer→reader round trip and the manifest parser.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# SECONDS per target (default 600); TARGETs default to all of them
# (qz_reader qz_roundtrip manifest). Installs cargo-fuzz when missing. Runs
# on stable Rust through RUSTC_BOOTSTRAP=1 (cargo-fuzz needs -Z flags).
# New corpus entries go to fuzz/corpus/<target> (git-ignored); the seeds in
# fuzz/seeds/ and tests/vectors/manifests/ are read, never written. Crashes,
# leaks, timeouts and out-of-memory inputs land in fuzz/artifacts/<target>/;
# the script lists them and exits non-zero when there are any.
set -euo pipefail

cd "$(dirname "$0")/.."
seconds="${1:-600}"
shift || true
if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    targets=(qz_reader qz_roundtrip manifest)
fi
case "$seconds" in
    '' | *[!0-9]*) echo "usage: $0 [SECONDS] [TARGET...]" >&2; exit 2 ;;
esac

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz
fi
export RUSTC_BOOTSTRAP=1

seeds_for() {
    case "$1" in
        qz_reader | qz_roundtrip) echo fuzz/seeds/qz_reader ;;
        manifest) echo tests/vectors/manifests ;;
        *) echo "unknown fuzz target: $1" >&2; return 1 ;;
    esac
}

failed=0
summary=()
for target in "${targets[@]}"; do
    seeds="$(seeds_for "$target")"
    corpus="fuzz/corpus/$target"
    artifacts="fuzz/artifacts/$target"
    mkdir -p "$corpus" "$artifacts"
    log="$(mktemp)"
    before="$(find "$artifacts" -type f | wc -l)"
    echo "== fuzzing $target for ${seconds}s (seeds: $seeds)"
    status=0
    # -rss_limit_mb also caps single allocations: an unbounded one is a finding.
    cargo fuzz run --release --debug-assertions "$target" "$corpus" "$seeds" -- \
        -max_total_time="$seconds" -rss_limit_mb=512 -timeout=10 \
        -print_final_stats=1 -artifact_prefix="$artifacts/" >"$log" 2>&1 || status=$?
    execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
    peak="$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -n 1)"
    units="$(find "$corpus" -type f | wc -l)"
    after="$(find "$artifacts" -type f | wc -l)"
    findings=$((after - before))
    if [ "$status" -ne 0 ] || [ "$findings" -gt 0 ]; then
        failed=1
        tail -n 40 "$log"
        echo "!! $target: exit status $status, new artifacts:"
        find "$artifacts" -type f -newer "$log" -print | sed 's/^/   /'
    fi
    line="$target: ${execs:-?} executions, corpus $units inputs, peak RSS ${peak:-?} MB, findings $findings (exit $status)"
    echo "== $line"
    summary+=("$line")
    rm -f "$log"
done

echo
echo "== fuzz summary (${seconds}s per target)"
printf '   %s\n' "${summary[@]}"
exit "$failed"
