# Sourced by the benchmarks: makes sure the reference tree exists in $TREE (default
# $BENCH_DIR/app-tree), regenerating it only when its generator changed.
# Needs ROOT (the repository) and BENCH_DIR.
TREE=${TREE:-$BENCH_DIR/app-tree}
mkdir -p "$BENCH_DIR"
stamp=$(cat "$ROOT/bench/gen_tree.py" "$ROOT/scripts/make_png.py" | sha256sum | cut -c1-16)
if [ ! -d "$TREE" ] || [ "$(cat "$TREE.stamp" 2>/dev/null)" != "$stamp" ]; then
  rm -f "$TREE.stamp"
  python3 "$ROOT/bench/gen_tree.py" "$TREE"
  echo "$stamp" >"$TREE.stamp"
fi
