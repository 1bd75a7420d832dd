#!/usr/bin/env bash
# Python package benchmark: q8s.bundle() against `q8s-cli bundle` and against Python's zipfile
# (deflate level 6) on the same files of the bundle benchmark's reference tree, and the time
# `import q8s` takes in a fresh interpreter. See bench/README.md for how to read it.
#
#   bash bench/python.sh            (make bench installs the package and builds q8s-cli first)
#
# Environment: PYTHON (an interpreter with q8s installed, default python3), Q8S_CLI (the
# binary), BENCH_DIR (cache, default /var/tmp/q8s-bench-<uid>), BENCH_RUNS (timed runs, default 5).
# Measure a release build of the package (`pip install .`, or `maturin develop --release`).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR=${BENCH_DIR:-/var/tmp/q8s-bench-$(id -u)}
RUNS=${BENCH_RUNS:-5}
PYTHON=${PYTHON:-python3}
Q8S_CLI=${Q8S_CLI:-${CARGO_TARGET_DIR:-$HOME/.cache/q8s-target}/release/q8s-cli}
TREE=$BENCH_DIR/app-tree

die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

[ -x "$Q8S_CLI" ] || die "q8s-cli not found at $Q8S_CLI (cargo build --release -p q8s-cli, or make bench)"
"$PYTHON" -c 'import q8s' 2>/dev/null || die "$PYTHON cannot import q8s: pip install . first"

# --- the reference tree, shared with bench/bundle.sh ---------------------------
. "$ROOT/bench/tree.sh"

echo "tree: $TREE"
echo "host: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); $RUNS runs each (zipfile: up to 3), median"

"$PYTHON" - "$TREE" "$BENCH_DIR/out-python" "$Q8S_CLI" "$RUNS" <<'EOF'
import os
import resource
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


def cpu_seconds() -> float:
    """CPU time so far of every thread of this process and of its finished children."""
    usage = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    return sum(u.ru_utime + u.ru_stime for u in usage)


def timed(action) -> tuple[float, float]:
    """Wall and CPU seconds of one run into a fresh output folder."""
    target = fresh()
    cpu, start = cpu_seconds(), time.perf_counter()
    action(target)
    return time.perf_counter() - start, cpu_seconds() - cpu


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


# The contenders take turns, so that load from other processes, which comes
# and goes, hits all of them alike; zipfile (~3 s a run) runs in at most 3
# of the rounds, spread over them.
zip_runs = max(1, min(runs, 3))
zip_rounds = {round(i * (runs - 1) / max(zip_runs - 1, 1)) for i in range(zip_runs)}
results = {"cli": [], "python": [], "zipfile": []}
zip_size = 0
for r in range(runs):
    results["cli"].append(timed(cli_bundle))
    results["python"].append(timed(python_bundle))
    if r in zip_rounds:
        results["zipfile"].append(timed(zipfile_bundle))
        zip_size = os.path.getsize(os.path.join(out, "app.zip"))
(t_cli, c_cli), (t_py, c_py), (t_zip, c_zip) = (
    (statistics.median(w for w, _ in results[k]), statistics.median(c for _, c in results[k]))
    for k in ("cli", "python", "zipfile")
)

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
print(f"{'contender':<32} {'median s':>9} {'CPU s':>7} {'cores':>6} {'size MiB':>9}")
for name, wall, cpu_s, size in (
    ("q8s-cli bundle", t_cli, c_cli, probe.size),
    ("q8s.bundle()", t_py, c_py, probe.size),
    ("zipfile, deflate level 6", t_zip, c_zip, zip_size),
):
    print(f"{name:<32} {wall:9.3f} {cpu_s:7.3f} {cpu_s / wall:6.2f} {size / mib:9.1f}")


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


over_cli = t_py / t_cli
vs_zipfile = t_zip / t_py
print(f"\n{'measure':<36} {'value':>9}   {'target':<10} verdict")
print(f"{'q8s.bundle() / q8s-cli bundle':<36} {over_cli:8.2f}x   {'<= 1.1x':<10} {verdict(over_cli <= 1.1)}")
print(f"{'speed vs zipfile (zipfile/q8s)':<36} {vs_zipfile:8.2f}x   {'>= 5x':<10} {verdict(vs_zipfile >= 5)}")
print(f"{'import q8s, fresh interpreter':<36} {t_import:6.1f} ms   {'< 50 ms':<10} {verdict(t_import < 50)}")
print(f"{'size vs zipfile (q8s/zipfile)':<36} {probe.size / zip_size:9.4f}")
shutil.rmtree(out, ignore_errors=True)
EOF
