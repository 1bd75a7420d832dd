-- Where each instance runs: the node (server replica) whose local runtime owns it, the only
-- one that starts it, stops it and writes its status. One row per instance that was placed;
-- it goes with its instance. The same tables as SQLite's migration 0005.

CREATE TABLE placements (
    instance_id uuid PRIMARY KEY REFERENCES instances (id) ON DELETE CASCADE,
    node        text NOT NULL
);
CREATE INDEX placements_node ON placements (node);

-- The replicas sharing this store, each with the URL the others reach it at and when it last
-- said it was alive.
CREATE TABLE nodes (
    name    text PRIMARY KEY,
    address text NOT NULL,
    seen_at timestamptz NOT NULL
);

-- One row: the key replicas prove to each other that a relayed proxy request comes from one of
-- them (never shown, never sent to an instance).
CREATE TABLE cluster_key (
    id  integer PRIMARY KEY CHECK (id = 1),
    key text NOT NULL
);

-- Failed sign-ins (wrong passwords, device codes that match nothing, unknown API tokens)
-- counted per throttle and key across the replicas: each replica checks its own memory and
-- adds what it sees here, so the replicas together allow a key about as many failures per
-- window as one would. Rows go once their window has ended.
CREATE TABLE sign_in_failures (
    key      text PRIMARY KEY,
    failures integer NOT NULL CHECK (failures > 0),
    until    timestamptz NOT NULL
);
