#!/usr/bin/env bash
# Fuzzes the q8s REST API with schemathesis, driven by the server's own OpenAPI document
# (/api/v1/openapi.json): starts a q8s-server on a free loopback port with a temporary data
# directory, runs schemathesis as the admin, and fails when any request gets a 5xx.
#
#   scripts/fuzz-api.sh                   # about two minutes
#   FUZZ_API_SECONDS=600 scripts/fuzz-api.sh
#   FUZZ_API_CHECKS=all scripts/fuzz-api.sh   # also schema conformance (informative)
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
seconds="${FUZZ_API_SECONDS:-120}"
checks="${FUZZ_API_CHECKS:-not_a_server_error}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"

if ! command -v schemathesis >/dev/null 2>&1; then
    echo "fuzz-api: installing schemathesis" >&2
    python3 -m pip install --quiet schemathesis
fi

cargo build --quiet -p q8s-server --manifest-path "$root/Cargo.toml"
server="$CARGO_TARGET_DIR/debug/q8s-server"

data="$(mktemp -d)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"$server" --listen "127.0.0.1:$port" --data-dir "$data" --max-bundle-size 10Mi \
    >"$data.stdout" 2>"$data.log" &
pid=$!
cleanup() {
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    rm -rf "$data" "$data.stdout"
}
trap cleanup EXIT

for _ in $(seq 1 200); do
    curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
    sleep 0.1
done
token="$(cat "$data/admin-token")"

echo "fuzz-api: schemathesis against http://127.0.0.1:$port/api/v1/openapi.json for ${seconds}s (checks: $checks)"
status=0
# schemathesis keeps a cache in the working directory: keep it out of the repository.
work="$(mktemp -d)"
trap 'cleanup; rm -rf "$work"' EXIT
cd "$work"
schemathesis run "http://127.0.0.1:$port/api/v1/openapi.json" \
    --header "Authorization: Bearer $token" \
    --checks "$checks" \
    --max-time "$seconds" \
    --workers 2 \
    --request-timeout 30 \
    --suppress-health-check all \
    || status=$?

errors="$(grep -c ' ERROR ' "$data.log" || true)"
panics="$(grep -c 'panicked' "$data.log" || true)"
echo "fuzz-api: server log: $errors ERROR lines, $panics panics (log kept at $data.log)"
if [ "$panics" != "0" ]; then
    grep -m 5 -A 3 'panicked' "$data.log" >&2
    status=1
fi
exit "$status"
