#!/usr/bin/env bash
# Builds q8s-server as it was at an earlier commit, for benchmarks that measure "before" and
# "now" in the same run (bench/density.sh): prints the path of that release binary. Built once
# per commit and kept in BENCH_DIR, with examples/hello as it was then beside it; its cargo target dir starts as a copy of the current
# release build's dependencies, so only q8s's own crates compile.
#
#   bash bench/baseline.sh [REV]      (default BENCH_BASELINE_REV, else issue 15's starting point)
#
# Environment: BENCH_DIR (default /var/tmp/q8s-bench-<uid>), CARGO_TARGET_DIR (the current build,
# whose release dependencies seed the baseline's), BENCH_BASELINE_REV.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR=${BENCH_DIR:-/var/tmp/q8s-bench-$(id -u)}
# The last commit before issue 15's work (bytecode, Qd's keychain, admission by default): the
# state in which the issue measured a burst of 100 in 71.9 s and 63 MiB per instance.
REV=${1:-${BENCH_BASELINE_REV:-8717789afad479bfa0c8adeda059915d9646e9b7}}
CURRENT_TARGET=${CARGO_TARGET_DIR:-$HOME/.cache/q8s-target}

die() { printf 'bench: %s\n' "$*" >&2; exit 1; }
commit=$(git -C "$ROOT" rev-parse --verify --quiet "$REV^{commit}") \
  || die "baseline $REV is not a commit of $ROOT (a shallow clone? fetch its history first)"
short=${commit:0:12}
OUT=$BENCH_DIR/baseline/$short
if [ -x "$OUT/q8s-server" ]; then
  echo "$OUT/q8s-server"
  exit 0
fi

mkdir -p "$BENCH_DIR/baseline"
exec 9>"$BENCH_DIR/baseline/.lock"
flock 9
SRC=$BENCH_DIR/baseline/src-$short
TARGET=$BENCH_DIR/baseline/target
if [ ! -d "$SRC" ]; then
  git -C "$ROOT" worktree prune
  git -C "$ROOT" worktree add --detach "$SRC" "$commit" >&2
fi
if [ ! -d "$TARGET/release" ] && [ -d "$CURRENT_TARGET/release/deps" ]; then
  echo "bench: seeding $TARGET from $CURRENT_TARGET/release (dependencies only)" >&2
  mkdir -p "$TARGET/release"
  (cd "$CURRENT_TARGET/release" && tar cf - --exclude=incremental deps build .fingerprint) \
    | (cd "$TARGET/release" && tar xf -)
fi
echo "bench: building q8s-server at $short (the baseline) in $TARGET" >&2
(cd "$SRC" && CARGO_TARGET_DIR=$TARGET cargo build --release --locked -p q8s-server >&2)
mkdir -p "$OUT"
rm -rf "$OUT/hello" && cp -r "$SRC/examples/hello" "$OUT/hello" # the app as it was then
cp "$TARGET/release/q8s-server" "$OUT/q8s-server.tmp"
mv "$OUT/q8s-server.tmp" "$OUT/q8s-server"
echo "$OUT/q8s-server"
