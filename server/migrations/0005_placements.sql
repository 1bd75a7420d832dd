-- Where each instance runs: the node (server replica) whose local runtime owns it, the only
-- one that starts it, stops it and writes its status. One row per instance that was placed;
-- it goes with its instance.

CREATE TABLE placements (
    instance_id TEXT PRIMARY KEY NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    node        TEXT NOT NULL
);
CREATE INDEX placements_node ON placements (node);

-- The replicas sharing this store, each with the URL the others reach it at and when it last
-- said it was alive.
CREATE TABLE nodes (
    name    TEXT PRIMARY KEY NOT NULL,
    address TEXT NOT NULL,
    seen_at TEXT NOT NULL
);

-- One row: the key replicas prove to each other that a relayed proxy request comes from one of
-- them (never shown, never sent to an instance).
CREATE TABLE cluster_key (
    id  INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    key TEXT NOT NULL
);

-- Failed sign-ins (wrong passwords, device codes that match nothing, unknown API tokens)
-- counted per throttle and key across the replicas: each replica checks its own memory and
-- adds what it sees here, so the replicas together allow a key about as many failures per
-- window as one would. Rows go once their window has ended.
CREATE TABLE sign_in_failures (
    key      TEXT PRIMARY KEY NOT NULL,
    failures INTEGER NOT NULL CHECK (failures > 0),
    until    TEXT NOT NULL
);
