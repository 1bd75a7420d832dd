#!/usr/bin/env bash
# A smoke test of q8s on a real Kubernetes cluster, for people who have one: a kind cluster
# (made when missing), the two images built and loaded, deploy/kubernetes/ applied with one
# replica on SQLite and a folder for bundles (no PostgreSQL or bucket needed), then the hello
# app imported, launched, opened, suspended, resumed and terminated through the API.
#
# NOT part of CI or `make test`: no cluster or container engine runs there, and this script
# has not been run by q8s's own tests (docs/kubernetes.md says what was tested and how).
#
#   scripts/k8s-smoke.sh              needs docker, kind, kubectl, curl, python3 and cargo
#   KIND_CLUSTER=q8s-smoke KEEP=1     keep the cluster afterwards (default: delete what it made)
set -euo pipefail

cd "$(dirname "$0")/.."
CLUSTER=${KIND_CLUSTER:-q8s-smoke}
SERVER_IMAGE=q8s-server:smoke
RUNTIME_IMAGE=q8s-runtime:smoke
PORT=${PORT:-18008}
DOMAIN=q8s.localhost

log() { printf '\033[1mk8s-smoke:\033[0m %s\n' "$*"; }
fail() { log "FAILED: $*"; kubectl -n q8s-system logs deploy/q8s-server --tail=50 || true; exit 1; }
for tool in docker kind kubectl curl python3 cargo; do
  command -v "$tool" >/dev/null || { echo "k8s-smoke: $tool is needed" >&2; exit 2; }
done

made_cluster=
if ! kind get clusters | grep -qx "$CLUSTER"; then
  log "creating the kind cluster $CLUSTER"
  kind create cluster --name "$CLUSTER" --wait 120s
  made_cluster=1
fi
cleanup() {
  kill "${FORWARD:-}" 2>/dev/null || true
  if [ -n "$made_cluster" ] && [ -z "${KEEP:-}" ]; then kind delete cluster --name "$CLUSTER"; fi
}
trap cleanup EXIT
kubectl config use-context "kind-$CLUSTER" >/dev/null

log "building and loading the images"
docker build -q -f deploy/server/Dockerfile -t "$SERVER_IMAGE" .
docker build -q -f deploy/runtime/Dockerfile -t "$RUNTIME_IMAGE" .
kind load docker-image --name "$CLUSTER" "$SERVER_IMAGE" "$RUNTIME_IMAGE"

log "applying deploy/kubernetes/ (one replica, SQLite, bundles in the pod's folder)"
kubectl apply -f deploy/kubernetes/server.yaml -f deploy/kubernetes/rbac.yaml >/dev/null
kubectl -n q8s-system create secret generic q8s-server-settings --dry-run=client -o yaml \
  --from-literal=Q8S_SERVER_DATABASE=sqlite:///data/q8s.db \
  --from-literal=Q8S_SERVER_BLOB_STORE=file:///data/blobs | kubectl apply -f - >/dev/null
kubectl -n q8s-system set image deploy/q8s-server q8s-server="$SERVER_IMAGE" >/dev/null
kubectl -n q8s-system set env deploy/q8s-server \
  Q8S_SERVER_KUBERNETES_IMAGE="$RUNTIME_IMAGE" \
  Q8S_SERVER_PUBLIC_URL="http://$DOMAIN:$PORT" >/dev/null
kubectl -n q8s-system scale deploy/q8s-server --replicas=1 >/dev/null
kubectl -n q8s-system rollout status deploy/q8s-server --timeout=180s

log "reaching the server on 127.0.0.1:$PORT"
kubectl -n q8s-system port-forward svc/q8s-server "$PORT:8008" >/dev/null 2>&1 &
FORWARD=$!
for _ in $(seq 50); do curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break; sleep 0.2; done
TOKEN=$(kubectl -n q8s-system logs deploy/q8s-server | sed -n 's/^ *API token: *//p' | head -1)
[ -n "$TOKEN" ] || fail "no admin token in the server's log"
API="http://127.0.0.1:$PORT/api/v1"
auth=(-H "Authorization: Bearer $TOKEN")
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }

log "importing and launching hello"
BUNDLE_DIR=$(mktemp -d)
cargo run -q -p q8s-cli -- bundle examples/hello -o "$BUNDLE_DIR/" >/dev/null
BUNDLE=$(ls "$BUNDLE_DIR"/*.qz)
APP=$(curl -fsS "${auth[@]}" -H 'Content-Type: application/octet-stream' \
  --data-binary @"$BUNDLE" "$API/apps?visibility=PRIVATE" | json '["id"]')
ID=$(curl -fsS "${auth[@]}" -H 'Content-Type: application/json' -d '{"visibility":"PRIVATE"}' \
  "$API/apps/$APP/instances" | json '["id"]')
wait_status() {
  for _ in $(seq 300); do
    now=$(curl -fsS "${auth[@]}" "$API/instances/$ID" | json '["status"]')
    [ "$now" = "$1" ] && return 0
    [ "$now" = FAILED ] && fail "instance $ID FAILED: $(curl -fsS "${auth[@]}" "$API/instances/$ID")"
    sleep 1
  done
  fail "instance $ID is $now, not $1"
}
wait_status RUNNING
log "instance $ID is RUNNING"

open_page() {
  curl -fsS "${auth[@]}" -H "Host: $ID.$DOMAIN:$PORT" "http://127.0.0.1:$PORT/" | grep -q wave-static
}
open_page || fail "the instance's page did not answer through the proxy"
curl -fsS "${auth[@]}" "$API/instances/$ID/logs?tail=20" | grep -q . || fail "no logs"
log "opened, logs read"

curl -fsS "${auth[@]}" -X POST "$API/instances/$ID/suspend" >/dev/null
wait_status SUSPENDED
curl -fsS "${auth[@]}" -X POST "$API/instances/$ID/resume" >/dev/null
wait_status RUNNING
open_page || fail "the resumed instance did not answer"
log "suspended and resumed"

curl -fsS "${auth[@]}" -X DELETE "$API/instances/$ID" >/dev/null
for _ in $(seq 60); do
  left=$(kubectl -n q8s-instances get all,secrets,pvc,networkpolicies -l "q8s.dev/instance=$ID" -o name | wc -l)
  [ "$left" = 0 ] && break
  sleep 1
done
[ "$left" = 0 ] || fail "objects of $ID are left: $(kubectl -n q8s-instances get all -l "q8s.dev/instance=$ID" -o name)"
log "terminated: nothing of the instance is left. Smoke test passed."
