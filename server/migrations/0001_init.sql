-- The q8s metadata store. Ids are UUID text, times RFC 3339 UTC text, booleans 0/1.

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    admin         INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT NOT NULL
);

CREATE TABLE tokens (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);

CREATE TABLE sessions (
    session_hash TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    host         TEXT,
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL
);

CREATE TABLE auth_codes (
    code_hash      TEXT PRIMARY KEY,
    user_id        TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id      TEXT NOT NULL,
    redirect_uri   TEXT NOT NULL,
    code_challenge TEXT NOT NULL,
    expires_at     TEXT NOT NULL
);

CREATE TABLE host_codes (
    code_hash  TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at TEXT NOT NULL
);

CREATE TABLE device_codes (
    device_code_hash TEXT PRIMARY KEY,
    user_code        TEXT NOT NULL UNIQUE,
    state            TEXT NOT NULL CHECK (state IN ('PENDING', 'APPROVED', 'DENIED')),
    user_id          TEXT REFERENCES users (id) ON DELETE CASCADE,
    interval_secs    INTEGER NOT NULL,
    last_polled_at   TEXT,
    expires_at       TEXT NOT NULL
);

CREATE TABLE apps (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    version       TEXT NOT NULL,
    owner_id      TEXT NOT NULL REFERENCES users (id),
    visibility    TEXT NOT NULL CHECK (visibility IN ('PRIVATE', 'ALL_USERS')),
    title         TEXT,
    description   TEXT,
    keywords      TEXT NOT NULL,
    manifest      TEXT NOT NULL,
    bundle_sha256 TEXT NOT NULL,
    bundle_size   INTEGER NOT NULL,
    icon          TEXT,
    screenshots   TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    -- The only arbiter of "this version exists", also under concurrent imports.
    UNIQUE (name, version)
);
CREATE INDEX apps_owner ON apps (owner_id);
CREATE INDEX apps_bundle ON apps (bundle_sha256);

CREATE TABLE instances (
    id             TEXT PRIMARY KEY,
    app_id         TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    owner_id       TEXT NOT NULL REFERENCES users (id),
    visibility     TEXT NOT NULL CHECK (visibility IN ('PRIVATE', 'ALL_USERS')),
    desired_state  TEXT NOT NULL CHECK (desired_state IN ('RUNNING', 'SUSPENDED', 'TERMINATED')),
    status         TEXT NOT NULL,
    status_message TEXT,
    restarts       INTEGER NOT NULL DEFAULT 0,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL
);
CREATE INDEX instances_app ON instances (app_id);
CREATE INDEX instances_owner ON instances (owner_id);

CREATE TABLE secrets (
    name  TEXT NOT NULL,
    key   TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (name, key)
);
