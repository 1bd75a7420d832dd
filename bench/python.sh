#!/usr/bin/env bash
# Python package benchmark: q8s.bundle() against `q8s-cli bundle` and against Python's zipfile
# (deflate level 6) on the same files of the bundle benchmark's reference tree, and the time
# `import q8s` takes in a fresh interpreter. See bench/README.md for how to read it.
#
#   bash bench/python.sh            (make bench installs the package and builds q8s-cli first)
#
# Environment: PYTHON (an interpreter with q8s installed, default python3), Q8S_CLI (the
# binary), BENCH_DIR (cache, default ~/.cache/q8s-bench), BENCH_RUNS (timed runs, default 5).
# Measure a release build of the package (`pip install .`, or `maturin develop --release`).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR=${BENCH_DIR:-$HOME/.cache/q8s-bench}
RUNS=${BENCH_RUNS:-5}
PYTHON=${PYTHON:-python3}
Q8S_CLI=${Q8S_CLI:-${CARGO_TARGET_DIR:-$HOME/.cache/q8s-target}/release/q8s-cli}
TREE=$BENCH_DIR/app-tree

die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

[ -x "$Q8S_CLI" ] || die "q8s-cli not found at $Q8S_CLI (cargo build --release -p q8s-cli, or make bench)"
"$PYTHON" -c 'import q8s' 2>/dev/null || die "$PYTHON cannot import q8s: pip install . first"

# --- the reference tree, shared with bench/bundle.sh ---------------------------
mkdir -p "$BENCH_DIR"
stamp=$(cat "$ROOT/bench/gen_tree.py" "$ROOT/scripts/make_png.py" | sha256sum | cut -c1-16)
if [ ! -d "$TREE" ] || [ "$(cat "$TREE.stamp" 2>/dev/null)" != "$stamp" ]; then
  rm -f "$TREE.stamp"
  python3 "$ROOT/bench/gen_tree.py" "$TREE"
  echo "$stamp" >"$TREE.stamp"
fi

echo "tree: $TREE"
echo "host: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); $RUNS runs each, median"

"$PYTHON" - "$TREE" "$BENCH_DIR/out-python" "$Q8S_CLI" "$RUNS" <<'EOF'
import os
import shutil
import statistics
import subprocess
import sys
import time
import zipfile

import q8s

tree, out, cli, runs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])


def fresh() -> str:
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    return out


def median(action, n=runs):
    times = []
    for _ in range(n):
        target = fresh()
        start = time.perf_counter()
        action(target)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


# Every file read once first, so every contender meets a warm page cache.
probe = q8s.bundle(tree, output=fresh())
files = probe.files


def cli_bundle(target: str) -> None:
    subprocess.run([cli, "bundle", tree, "-o", target], check=True, stdout=subprocess.DEVNULL)


def python_bundle(target: str) -> None:
    q8s.bundle(tree, output=target)


def zipfile_bundle(target: str) -> None:
    # The same selection, in the same order, with zipfile's deflate at level 6.
    with zipfile.ZipFile(os.path.join(target, "app.zip"), "w", zipfile.ZIP_DEFLATED, compresslevel=6) as z:
        for name in files:
            z.write(os.path.join(tree, name), name)


# Alternate the two Rust paths so that load from other processes hits both alike.
cli_times, py_times = [], []
for _ in range(runs):
    cli_times.append(median(cli_bundle, 1))
    py_times.append(median(python_bundle, 1))
t_cli, t_py = statistics.median(cli_times), statistics.median(py_times)
t_zip = median(zipfile_bundle, max(1, min(runs, 3)))
zip_size = os.path.getsize(os.path.join(out, "app.zip"))

import_times = []
for _ in range(max(runs, 10)):
    result = subprocess.run(
        [sys.executable, "-c",
         "import time; t = time.perf_counter(); import q8s; print(time.perf_counter() - t)"],
        check=True, capture_output=True, text=True,
    )
    import_times.append(float(result.stdout))
t_import = statistics.median(import_times) * 1000

mib = 1 << 20
print(f"      {len(files)} files bundled, {probe.size / mib:.1f} MiB bundle\n")
print(f"{'contender':<32} {'median s':>9} {'size MiB':>9}")
print(f"{'q8s-cli bundle':<32} {t_cli:9.3f} {probe.size / mib:9.1f}")
print(f"{'q8s.bundle()':<32} {t_py:9.3f} {probe.size / mib:9.1f}")
print(f"{'zipfile, deflate level 6':<32} {t_zip:9.3f} {zip_size / mib:9.1f}")


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


over_cli = t_py / t_cli
vs_zipfile = t_zip / t_py
print(f"\n{'measure':<36} {'value':>9}   {'target':<10} verdict")
print(f"{'q8s.bundle() / q8s-cli bundle':<36} {over_cli:8.2f}x   {'<= 1.1x':<10} {verdict(over_cli <= 1.1)}")
print(f"{'speed vs zipfile (zipfile/q8s)':<36} {vs_zipfile:8.2f}x   {'>= 5x':<10} {verdict(vs_zipfile >= 5)}")
print(f"{'import q8s, fresh interpreter':<36} {t_import:6.1f} ms   {'< 50 ms':<10} {verdict(t_import < 50)}")
shutil.rmtree(out, ignore_errors=True)
EOF
