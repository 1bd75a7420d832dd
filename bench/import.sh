#!/usr/bin/env bash
# Import benchmark: how long does `POST /api/v1/apps` of a 200 MB bundle take against
# `sha256sum` of the same file (the read + hash the server cannot avoid) and against the same
# import into an S3 bucket (moto's server, a Python process, and s3s-fs, a Rust one on a
# folder), and how much memory does the server use while it imports a 1 GB bundle, into its
# folder and into each bucket? See bench/README.md.
#
#   bash bench/import.sh            (make bench builds q8s-server and q8s-cli first)
#
# Environment: Q8S_SERVER, Q8S_CLI (the release binaries; default: under
# ${CARGO_TARGET_DIR:-~/.cache/q8s-target}/release), BENCH_DIR (cache, default
# /var/tmp/q8s-bench-<uid>), BENCH_RUNS (timed imports and sha256sum runs, default 5),
# Q8S_MOTO_VENV (moto's virtualenv, default ~/.cache/q8s-moto) and Q8S_S3S_ROOT (s3s-fs's
# install root, default ~/.cache/q8s-s3s): both from `scripts/setup.sh bench`.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR=${BENCH_DIR:-/var/tmp/q8s-bench-$(id -u)}
RUNS=${BENCH_RUNS:-5}
RELEASE=${CARGO_TARGET_DIR:-$HOME/.cache/q8s-target}/release
Q8S_SERVER=${Q8S_SERVER:-$RELEASE/q8s-server}
Q8S_CLI=${Q8S_CLI:-$RELEASE/q8s-cli}
WORK=$BENCH_DIR/import
# Payload bytes of the two bundles. The large one stays under the server's default
# --max-bundle-size of 1 GiB (1,073,741,824 bytes), so the server runs with its defaults.
MEDIUM_BYTES=200000000
LARGE_BYTES=1000000000

die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

for tool in curl python3 sha256sum; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is missing"
done
[ -x "$Q8S_SERVER" ] || die "q8s-server not found at $Q8S_SERVER (cargo build --release -p q8s-server)"
[ -x "$Q8S_CLI" ] || die "q8s-cli not found at $Q8S_CLI (cargo build --release -p q8s-cli)"
MOTO=${Q8S_MOTO_VENV:-$HOME/.cache/q8s-moto}/bin/moto_server
[ -x "$MOTO" ] || die "moto's S3 server not found at $MOTO (scripts/setup.sh bench)"
S3S=${Q8S_S3S_ROOT:-$HOME/.cache/q8s-s3s}/bin/s3s-fs
[ -x "$S3S" ] || die "s3s-fs not found at $S3S (scripts/setup.sh bench)"

# --- the bundles: a valid app whose payload is incompressible (stored, not deflated) ---------
# bundle NAME BYTES: writes $WORK/NAME.qz once (kept while this script's generator is the same).
mkdir -p "$WORK"
stamp=$(sed -n '/^# --- the bundles/,/^# --- end of the bundles/p' "${BASH_SOURCE[0]}" |
  cat - <("$Q8S_CLI" --version) | sha256sum | cut -c1-16)
bundle() {
  local name=$1 bytes=$2 tree=$WORK/tree-$1
  if [ -s "$WORK/$name.qz" ] && [ "$(cat "$WORK/$name.stamp" 2>/dev/null)" = "$stamp" ]; then
    return
  fi
  rm -rf "$tree" "$WORK/$name.qz" "$WORK/$name.stamp"
  python3 - "$tree" "$bytes" <<'EOF'
import os, random, sys
tree, total = sys.argv[1], int(sys.argv[2])
os.makedirs(os.path.join(tree, "data"))
with open(os.path.join(tree, "q-app.toml"), "w") as f:
    f.write('[App]\nName = "ai.h2o.q8s.bench.import"\nVersion = "1.0.0"\n'
            'Title = "Import benchmark"\nDescription = "Incompressible payload."\n'
            'Category = "Other"\nKeywords = ["bench"]\n\n[Runtime]\nModule = "main"\n')
with open(os.path.join(tree, "main.py"), "w") as f:
    f.write("print('import benchmark')\n")
rng = random.Random(8008)
piece, n = 8_000_000, 0
while total > 0:
    size = min(piece, total)
    # `.gz`: the bundler stores already-compressed formats as they are.
    with open(os.path.join(tree, "data", f"part-{n:04}.gz"), "wb") as f:
        f.write(rng.randbytes(size))
    total, n = total - size, n + 1
EOF
  # (It warns that the app has no requirements.txt and no icon: true, and beside the point.)
  "$Q8S_CLI" bundle "$tree" -o "$WORK/$name.qz" >"$WORK/bundle.log" 2>&1 ||
    { cat "$WORK/bundle.log" >&2; die "q8s-cli bundle failed"; }
  rm -rf "$tree"
  echo "$stamp" >"$WORK/$name.stamp"
}
# --- end of the bundles
bundle medium "$MEDIUM_BYTES"
bundle large "$LARGE_BYTES"

# --- the servers: defaults, fresh data directories on the same disk as the bundles; the second
# keeps its bundles in a bucket of moto's S3 server, the third in one of s3s-fs (its objects in
# a folder on the same disk) ------------------------------------------------------------------
# The q8s-servers by name (folder, moto, s3s): process, base URL, admin token, log.
declare -A PIDS=() BASES=() TOKENS=() LOGS=()
MOTO_PID= S3S_PID=
S3S_ROOT=$WORK/s3s-objects
stop_servers() {
  local pid
  for pid in "${PIDS[@]}" $MOTO_PID $S3S_PID; do
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  PIDS=() MOTO_PID= S3S_PID=
  rm -rf "$WORK"/data-* "$S3S_ROOT"
}
trap stop_servers EXIT
rm -rf "$WORK"/data "$WORK"/data-* "$S3S_ROOT"
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# wait_for URL LOG [ANY]: until URL answers 2xx (any HTTP answer when ANY is given), or dies
# showing LOG.
wait_for() {
  local fail=-f
  [ -n "${3:-}" ] && fail=
  for _ in $(seq 400); do
    curl -s $fail -o /dev/null "$1" 2>/dev/null && return
    sleep 0.05
  done
  curl -s $fail -o /dev/null "$1" || { cat "$2" >&2; die "$1 did not answer"; }
}
MOTO_PORT=$(free_port)
"$MOTO" -H 127.0.0.1 -p "$MOTO_PORT" >"$WORK/moto.log" 2>&1 &
MOTO_PID=$!
wait_for "http://127.0.0.1:$MOTO_PORT/" "$WORK/moto.log"
curl -sf -X PUT "http://127.0.0.1:$MOTO_PORT/q8s-bench" >/dev/null || die "creating the bucket failed"
# s3s-fs checks each request's signature (SigV4) against these keys, as S3 does; a bucket is a
# folder under its root.
S3S_PORT=$(free_port)
mkdir -p "$S3S_ROOT/q8s-bench"
"$S3S" --host 127.0.0.1 --port "$S3S_PORT" --access-key bench --secret-key bench "$S3S_ROOT" \
  >"$WORK/s3s.log" 2>&1 &
S3S_PID=$!
wait_for "http://127.0.0.1:$S3S_PORT/" "$WORK/s3s.log" any

# q8s_server NAME [ARGS...]: a q8s-server with its defaults and ARGS on a free port, its data
# in $WORK/data-NAME (the bucket's keys in the environment, as a deployment gives them).
q8s_server() {
  local name=$1 port data=$WORK/data-$1
  shift
  port=$(free_port)
  BASES[$name]=http://127.0.0.1:$port
  LOGS[$name]=$WORK/server-$name.log
  AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1 \
    "$Q8S_SERVER" --listen "127.0.0.1:$port" --data-dir "$data" "$@" >"${LOGS[$name]}" 2>&1 &
  PIDS[$name]=$!
  wait_for "${BASES[$name]}/readyz" "${LOGS[$name]}"
  TOKENS[$name]=$(cat "$data/admin-token")
}
q8s_server folder
bucket() { echo "s3://q8s-bench?endpoint=http://127.0.0.1:$1&region=us-east-1"; }
q8s_server moto --blob-store "$(bucket "$MOTO_PORT")"
q8s_server s3s --blob-store "$(bucket "$S3S_PORT")"

now_ns() { date +%s%N; }
median() { sort -n | awk '{a[NR] = $1} END {printf "%.3f", a[int((NR + 1) / 2)] / 1e9}'; }
secs() { awk -v n="$1" 'BEGIN {printf "%.3f", n / 1e9}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
verdict() { awk -v v="$1" -v l="$3" -v op="$2" 'BEGIN {
  ok = (op == "<=") ? v <= l : v < l; print ok ? "ok" : "MISSED" }'; }
mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }
hwm_kib() { awk '/^VmHWM:/ {print $2}' "/proc/${PIDS[$1]}/status"; }

rm -f "$WORK"/phases-*.txt

# import FILE SERVER [DIGEST [LABEL]]: imports FILE (streamed by curl, not read into its memory
# first) into SERVER (folder, moto or s3s), declaring DIGEST as its Repr-Digest when given (as
# q8s-cli does: it hashes the bundle before sending it), checks the 201, deletes the app again
# (so the next run imports the same name and version anew) and prints the import's wall time
# in ns. With LABEL, the server's own times of the import's phases (its log's `imported` line:
# receive and hash, verify, store, insert, in ms) are appended to $WORK/phases-LABEL.txt.
import() {
  local start end code id server=$2 declared=()
  local base=${BASES[$2]} token=${TOKENS[$2]}
  [ -n "${3:-}" ] && declared=(-H "Repr-Digest: $3")
  start=$(now_ns)
  code=$(curl -s -o "$WORK/answer.json" -w '%{http_code}' -X POST -H 'Expect:' "${declared[@]}" \
    -H "Authorization: Bearer $token" -H 'Content-Type: application/octet-stream' \
    -T "$1" "$base/api/v1/apps?visibility=PRIVATE")
  end=$(now_ns)
  [ "$code" = 201 ] || die "import of $1 into $server answered $code: $(head -c 600 "$WORK/answer.json")"
  id=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["id"])' "$WORK/answer.json")
  if [ -n "${4:-}" ]; then
    grep "imported app=$id " "${LOGS[$server]}" |
      sed -E 's/.*received_ms=([0-9]+) verified_ms=([0-9]+) stored_ms=([0-9]+) inserted_ms=([0-9]+).*/\1 \2 \3 \4/' \
        >>"$WORK/phases-$4.txt" || true
  fi
  curl -sf -X DELETE -H "Authorization: Bearer $token" "$base/api/v1/apps/$id" >/dev/null ||
    die "deleting app $id failed"
  echo $((end - start))
}

# phases LABEL: the median of each phase of the imports labelled LABEL, in ms.
phases() {
  python3 - "$WORK/phases-$1.txt" <<'PY'
import statistics, sys
rows = [[int(x) for x in line.split()] for line in open(sys.argv[1]) if line.strip()]
cols = [statistics.median_low(c) for c in zip(*rows)] if rows else ["?"] * 4
print("receive+hash {} · verify {} · store {} · insert {}".format(*cols))
PY
}

# store_put FILE STORE: one PUT of FILE straight into STORE's bucket by curl (one request,
# signed by curl, no q8s-server in between), then its DELETE; prints the PUT's wall time in ns.
# No import into that store can take less: the store itself must receive the same bytes.
declare -A STORE_PORTS=([moto]=$MOTO_PORT [s3s]=$S3S_PORT)
store_put() {
  local start end code url=http://127.0.0.1:${STORE_PORTS[$2]}/q8s-bench/floor.qz
  # (Both stores answer `Expect: 100-continue` at once; curl signs every header it sends, so the
  # header stays.)
  local sign=(--aws-sigv4 "aws:amz:us-east-1:s3" --user bench:bench
    -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD')
  start=$(now_ns)
  code=$(curl -s -o "$WORK/answer.json" -w '%{http_code}' "${sign[@]}" -T "$1" "$url")
  end=$(now_ns)
  [ "$code" = 200 ] || die "PUT of $1 into $2 answered $code: $(head -c 600 "$WORK/answer.json")"
  curl -sf -o /dev/null "${sign[@]}" -X DELETE "$url" || die "DELETE from $2 failed"
  echo $((end - start))
}

# sha_run FILE: one sha256sum of FILE, in ns.
sha_run() {
  local start
  start=$(now_ns)
  sha256sum "$1" >/dev/null
  echo $(($(now_ns) - start))
}

MEDIUM=$WORK/medium.qz
LARGE=$WORK/large.qz
# repr_digest FILE: the Repr-Digest value of FILE (sha-256, RFC 9530), as q8s-cli sends it.
repr_digest() {
  python3 -c 'import base64, hashlib, sys
h = hashlib.sha256()
with open(sys.argv[1], "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
        h.update(block)
print("sha-256=:" + base64.b64encode(h.digest()).decode() + ":")' "$1"
}
MEDIUM_DIGEST=$(repr_digest "$MEDIUM")
LARGE_DIGEST=$(repr_digest "$LARGE")
echo "host:    $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) (before)"
echo "bundles: $(stat -c %s "$MEDIUM") and $(stat -c %s "$LARGE") bytes (incompressible, stored)"

# Warm page cache for both sides; one untimed import warms each server (first write of the
# SQLite file, the blob folder, the bucket).
cat "$MEDIUM" >/dev/null
for server in folder moto s3s; do
  import "$MEDIUM" "$server" "$MEDIUM_DIGEST" >/dev/null
done
declare -A TIMES=()
for ((i = 0; i < RUNS; i++)); do
  # Interleaved, so that load from elsewhere hits every column alike. The folder and the
  # buckets compared are all sent the digest; curl's plain import to each bucket (nothing
  # declared: the server uploads after verifying) is shown beside them.
  TIMES[sha]+="$(sha_run "$MEDIUM") "
  TIMES[folder]+="$(import "$MEDIUM" folder "$MEDIUM_DIGEST" folder) "
  for store in moto s3s; do
    TIMES[$store]+="$(import "$MEDIUM" "$store" "$MEDIUM_DIGEST" "$store") "
    TIMES[$store-plain]+="$(import "$MEDIUM" "$store" "" "$store-plain") "
    TIMES[$store-put]+="$(store_put "$MEDIUM" "$store") "
  done
done
declare -A MEDIAN=()
for column in "${!TIMES[@]}"; do
  # shellcheck disable=SC2086 # one word per run
  MEDIAN[$column]=$(printf '%s\n' ${TIMES[$column]} | median)
done
medium_hwm=$(hwm_kib folder)

cat "$LARGE" >/dev/null
large_sha=$(sha_run "$LARGE")
declare -A LARGE_TIMES=()
LARGE_TIMES[folder]=$(import "$LARGE" folder)
large_hwm=$(hwm_kib folder)
for store in moto s3s; do
  LARGE_TIMES[$store]=$(import "$LARGE" "$store" "$LARGE_DIGEST")
  LARGE_TIMES[$store-plain]=$(import "$LARGE" "$store")
done
large_s3_hwm=$(hwm_kib moto)
large_s3s_hwm=$(hwm_kib s3s)
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

row() { printf '%-50s %10s\n' "$@"; }
echo
row "200 MB bundle ($RUNS runs each, median)" seconds
row "  curl POST /api/v1/apps (201, then DELETE)" "${MEDIAN[folder]}"
row "  the same into S3 (moto), both with Repr-Digest" "${MEDIAN[moto]}"
row "  into S3 (moto) without Repr-Digest" "${MEDIAN[moto-plain]}"
row "  moto's own PUT of the file (curl, no q8s)" "${MEDIAN[moto-put]}"
row "  the same into S3 (s3s-fs), with Repr-Digest" "${MEDIAN[s3s]}"
row "  into S3 (s3s-fs) without Repr-Digest" "${MEDIAN[s3s-plain]}"
row "  s3s-fs's own PUT of the file (curl, no q8s)" "${MEDIAN[s3s-put]}"
row "  sha256sum" "${MEDIAN[sha]}"
row "1 GB bundle (one run)" seconds
row "  curl POST /api/v1/apps" "$(secs "${LARGE_TIMES[folder]}")"
row "  the same into S3 (moto), with Repr-Digest" "$(secs "${LARGE_TIMES[moto]}")"
row "  into S3 (moto) without Repr-Digest" "$(secs "${LARGE_TIMES[moto-plain]}")"
row "  the same into S3 (s3s-fs), with Repr-Digest" "$(secs "${LARGE_TIMES[s3s]}")"
row "  into S3 (s3s-fs) without Repr-Digest" "$(secs "${LARGE_TIMES[s3s-plain]}")"
row "  sha256sum" "$(secs "$large_sha")"
row "server peak RSS (VmHWM) after the 200 MB runs" "$(mib "$medium_hwm") MiB"
row "server peak RSS (VmHWM) after the 1 GB import" "$(mib "$large_hwm") MiB"
row "the same, server on moto (both 1 GB imports)" "$(mib "$large_s3_hwm") MiB"
row "the same, server on s3s-fs (both 1 GB imports)" "$(mib "$large_s3s_hwm") MiB"
echo "load average after: $load_after"
echo
echo "where the server's time goes, 200 MB (its log, median ms):"
for label in folder moto moto-plain s3s s3s-plain; do
  printf '  %-11s %s\n' "$label" "$(phases "$label")"
done

import_ratio=$(ratio "${MEDIAN[folder]}" "${MEDIAN[sha]}")
echo
printf '%-44s %9s   %-9s %s\n' measure value target verdict
printf '%-44s %8sx   %-9s %s\n' "import time / sha256sum time, 200 MB" "$import_ratio" "<= 3x" \
  "$(verdict "$import_ratio" "<=" 3)"
printf '%-44s %5s MiB   %-9s %s\n' "server peak RSS, 1 GB import" "$(mib "$large_hwm")" "< 100 MiB" \
  "$(verdict "$large_hwm" "<" 102400)"
for store in moto s3s; do
  name=$([ "$store" = moto ] && echo "S3 (moto)" || echo "S3 (s3s-fs)")
  s3_ratio=$(ratio "${MEDIAN[$store]}" "${MEDIAN[folder]}")
  printf '%-44s %8sx   %-9s %s\n' "import to $name / to the folder, 200 MB" "$s3_ratio" "<= 1.5x" \
    "$(verdict "$s3_ratio" "<=" 1.5)"
  printf '%-44s %8sx   %-9s %s\n' "  (the same without Repr-Digest)" \
    "$(ratio "${MEDIAN[$store-plain]}" "${MEDIAN[folder]}")" "-" "-"
  printf '%-44s %8sx   %-9s %s\n' "  (the store's own PUT / the folder import)" \
    "$(ratio "${MEDIAN[$store-put]}" "${MEDIAN[folder]}")" "floor" "-"
  printf '%-44s %8sx   %-9s %s\n' "  (the import / the store's own PUT)" \
    "$(ratio "${MEDIAN[$store]}" "${MEDIAN[$store-put]}")" "-" "-"
done
printf '%-44s %5s MiB   %-9s %s\n' "server on moto peak RSS, 1 GB imports" "$(mib "$large_s3_hwm")" \
  "< 100 MiB" "$(verdict "$large_s3_hwm" "<" 102400)"
printf '%-44s %5s MiB   %-9s %s\n' "server on s3s-fs peak RSS, 1 GB imports" "$(mib "$large_s3s_hwm")" \
  "< 100 MiB" "$(verdict "$large_s3s_hwm" "<" 102400)"
