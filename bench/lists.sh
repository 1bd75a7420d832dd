#!/usr/bin/env bash
# List and get latency with a large catalog: 10,000 apps (5,000 Names, two versions each) and
# 10,000 instances, seeded by SQL into SQLite and into PostgreSQL (the same rows, the same
# ids), each behind a release q8s-server; then p50/p99 of the lists (first page, and a page
# deep in the list) and of the gets over HTTP, and the PostgreSQL/SQLite ratio. See
# bench/README.md.
#
#   bash bench/lists.sh            (make bench builds q8s-server first)
#
# Environment: Q8S_SERVER (the release binary; default under
# ${CARGO_TARGET_DIR:-~/.cache/q8s-target}/release), BENCH_DIR (default
# /var/tmp/q8s-bench-<uid>), BENCH_LIST_REQUESTS (timed requests per endpoint and server,
# default 400). PostgreSQL is a throw-away cluster of Debian's `pg_virtualenv`
# (`scripts/setup.sh scale`).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR=${BENCH_DIR:-/var/tmp/q8s-bench-$(id -u)}
REQUESTS=${BENCH_LIST_REQUESTS:-400}
RELEASE=${CARGO_TARGET_DIR:-$HOME/.cache/q8s-target}/release
Q8S_SERVER=${Q8S_SERVER:-$RELEASE/q8s-server}
WORK=$BENCH_DIR/lists
APPS=10000
INSTANCES=10000

die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

for tool in curl python3 sqlite3 psql pg_virtualenv; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is missing (scripts/setup.sh scale bench)"
done
[ -x "$Q8S_SERVER" ] || die "q8s-server not found at $Q8S_SERVER (cargo build --release -p q8s-server)"

# The whole benchmark runs inside a throw-away PostgreSQL cluster (PG* variables set).
if [ -z "${Q8S_BENCH_IN_PG:-}" ]; then
  # BENCH_PG_OPTIONS: more settings of the cluster, e.g. "-o auto_explain.log_min_duration=0".
  # shellcheck disable=SC2086
  Q8S_BENCH_IN_PG=1 exec pg_virtualenv -o fsync=off ${BENCH_PG_OPTIONS:-} bash "${BASH_SOURCE[0]}" "$@"
fi
DB_URL="postgres://$PGUSER:$PGPASSWORD@127.0.0.1:$PGPORT/q8s_bench"
psql -q -c "CREATE DATABASE q8s_bench" >/dev/null

rm -rf "$WORK"
mkdir -p "$WORK"
SQLITE_PID= PG_PID=
stop_servers() {
  local pid
  for pid in $SQLITE_PID $PG_PID; do
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  SQLITE_PID= PG_PID=
}
trap 'stop_servers; rm -rf "$WORK"' EXIT
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_for() {
  for _ in $(seq 600); do
    curl -sf "$1" >/dev/null 2>&1 && return
    sleep 0.05
  done
  cat "$2" >&2
  die "$1 did not answer"
}
# serve NAME DATA [ARGS…]: starts q8s-server (fake runtime: the instances stay as seeded) and
# sets NAME_PID and NAME_URL.
serve() {
  local name=$1 data=$2 port
  shift 2
  port=$(free_port)
  "$Q8S_SERVER" --listen "127.0.0.1:$port" --data-dir "$data" --runtime fake "$@" \
    >"$WORK/$name.log" 2>&1 &
  printf -v "${name}_PID" %s $!
  printf -v "${name}_URL" %s "http://127.0.0.1:$port"
  wait_for "http://127.0.0.1:$port/healthz" "$WORK/$name.log"
}

# --- the catalog: the same rows in both databases. Ids end in the row's number (app 5000 is
# …-8000-000000001388 on both); app i is version 1.(i % 2).0 of Name app(i / 2), imported a
# second after app i - 1; instance i runs app i, launched after instance i - 1, SUSPENDED (the
# fake runtime leaves it so); every app ALL_USERS, owned by the admin. ----------------------
seed_sqlite() {
  sqlite3 "$1" <<EOF
PRAGMA foreign_keys = ON;
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < $APPS - 1),
  admin(id) AS (SELECT id FROM users WHERE admin LIMIT 1)
INSERT INTO apps (id, name, version, owner_id, visibility, title, description, keywords,
    manifest, bundle_sha256, bundle_size, icon, screenshots, created_at, updated_at)
SELECT printf('00000000-0000-4000-8000-%012x', i), printf('ai.h2o.bench.app%05d', i / 2),
    printf('1.%d.0', i % 2), admin.id, 'ALL_USERS', printf('Bench app %d', i / 2),
    'A seeded app.', '["bench"]',
    json_object('app', json_object('name', printf('ai.h2o.bench.app%05d', i / 2),
        'version', printf('1.%d.0', i % 2), 'title', printf('Bench app %d', i / 2),
        'description', 'A seeded app.', 'category', NULL, 'keywords', json_array('bench')),
      'runtime', json_object('module', 'main', 'volume_mount', NULL, 'volume_size', NULL,
        'memory_limit', NULL, 'memory_reservation', NULL),
      'env', json_array()),
    printf('%064x', i), 1000, NULL, '[]',
    strftime('%Y-%m-%dT%H:%M:%fZ', 'now', printf('-%d seconds', 2 * $APPS - i)),
    strftime('%Y-%m-%dT%H:%M:%fZ', 'now', printf('-%d seconds', 2 * $APPS - i))
FROM n, admin;
INSERT INTO app_names (name, owner_id, created_at)
SELECT name, owner_id, MIN(created_at) FROM apps GROUP BY name, owner_id;
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < $INSTANCES - 1),
  admin(id) AS (SELECT id FROM users WHERE admin LIMIT 1)
INSERT INTO instances (id, app_id, owner_id, visibility, desired_state, status,
    status_message, restarts, created_at, updated_at)
SELECT printf('00000000-0000-4000-9000-%012x', i),
    printf('00000000-0000-4000-8000-%012x', i % $APPS), admin.id, 'PRIVATE', 'SUSPENDED',
    'SUSPENDED', NULL, 0,
    strftime('%Y-%m-%dT%H:%M:%fZ', 'now', printf('-%d seconds', $INSTANCES - i)),
    strftime('%Y-%m-%dT%H:%M:%fZ', 'now', printf('-%d seconds', $INSTANCES - i))
FROM n, admin;
COMMIT;
ANALYZE;
EOF
}
seed_postgres() {
  psql -q -v ON_ERROR_STOP=1 -d q8s_bench <<EOF >/dev/null
BEGIN;
INSERT INTO apps (id, name, version, owner_id, visibility, title, description, keywords,
    manifest, bundle_sha256, bundle_size, icon, screenshots, created_at, updated_at)
SELECT ('00000000-0000-4000-8000-' || lpad(to_hex(i), 12, '0'))::uuid,
    'ai.h2o.bench.app' || lpad((i / 2)::text, 5, '0'), '1.' || (i % 2) || '.0',
    (SELECT id FROM users WHERE admin LIMIT 1), 'ALL_USERS', 'Bench app ' || (i / 2),
    'A seeded app.', '["bench"]'::jsonb,
    jsonb_build_object('app', jsonb_build_object(
        'name', 'ai.h2o.bench.app' || lpad((i / 2)::text, 5, '0'),
        'version', '1.' || (i % 2) || '.0', 'title', 'Bench app ' || (i / 2),
        'description', 'A seeded app.', 'category', NULL, 'keywords', jsonb_build_array('bench')),
      'runtime', jsonb_build_object('module', 'main', 'volume_mount', NULL, 'volume_size', NULL,
        'memory_limit', NULL, 'memory_reservation', NULL),
      'env', jsonb_build_array()),
    lpad(to_hex(i), 64, '0'), 1000, NULL, '[]'::jsonb,
    date_trunc('milliseconds', now() - (2 * $APPS - i) * interval '1 second'),
    date_trunc('milliseconds', now() - (2 * $APPS - i) * interval '1 second')
FROM generate_series(0, $APPS - 1) AS i;
INSERT INTO app_names (name, owner_id, created_at)
SELECT name, owner_id, MIN(created_at) FROM apps GROUP BY name, owner_id;
INSERT INTO instances (id, app_id, owner_id, visibility, desired_state, status,
    status_message, restarts, created_at, updated_at)
SELECT ('00000000-0000-4000-9000-' || lpad(to_hex(i), 12, '0'))::uuid,
    ('00000000-0000-4000-8000-' || lpad(to_hex(i % $APPS), 12, '0'))::uuid,
    (SELECT id FROM users WHERE admin LIMIT 1), 'PRIVATE', 'SUSPENDED', 'SUSPENDED', NULL, 0,
    date_trunc('milliseconds', now() - ($INSTANCES - i) * interval '1 second'),
    date_trunc('milliseconds', now() - ($INSTANCES - i) * interval '1 second')
FROM generate_series(0, $INSTANCES - 1) AS i;
COMMIT;
ANALYZE;
EOF
}
# --- end of the catalog

# Each server starts once on its empty database (migrations, the admin), stops, is seeded,
# and starts again on the seeded catalog.
serve SQLITE "$WORK/sqlite"
serve PG "$WORK/pg" --database "$DB_URL"
stop_servers
start=$(date +%s%N)
seed_sqlite "$WORK/sqlite/q8s.db"
seeded_sqlite=$(( ($(date +%s%N) - start) / 1000000 ))
start=$(date +%s%N)
seed_postgres
seeded_pg=$(( ($(date +%s%N) - start) / 1000000 ))
serve SQLITE "$WORK/sqlite"
serve PG "$WORK/pg" --database "$DB_URL"

echo "host:    $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "catalog: $APPS apps ($((APPS / 2)) Names), $INSTANCES instances; seeded in ${seeded_sqlite} ms (SQLite), ${seeded_pg} ms (PostgreSQL $(psql -Atc 'SHOW server_version'))"
echo "pages:   100 items (the default limit), admin token, scope=all"
echo
python3 "$ROOT/bench/lists_latency.py" "$REQUESTS" \
  "SQLite=$SQLITE_URL,$(cat "$WORK/sqlite/admin-token")" \
  "PostgreSQL=$PG_URL,$(cat "$WORK/pg/admin-token")"
