-- The q8s metadata store on PostgreSQL, in native types: ids are `uuid`, times `timestamptz`
-- (kept to the millisecond, as on SQLite), flags `boolean`, manifests and lists `jsonb`. The
-- same tables and invariants as SQLite's migrations 0001 to 0004, as constraints.

CREATE TABLE users (
    id            uuid PRIMARY KEY,
    username      text NOT NULL UNIQUE,
    password_hash text NOT NULL,
    admin         boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL
);

CREATE TABLE tokens (
    id           uuid PRIMARY KEY,
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         text NOT NULL,
    token_hash   text NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL,
    -- Written at most about once a minute per token; NULL until its first use.
    last_used_at timestamptz
);
CREATE INDEX tokens_user ON tokens (user_id);

-- Sign-in state lives here, not in a replica's memory: any replica accepts what another issued.
CREATE TABLE sessions (
    session_hash text PRIMARY KEY,
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    host         text,
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL
);
CREATE INDEX sessions_expiry ON sessions (expires_at);

CREATE TABLE auth_codes (
    code_hash      text PRIMARY KEY,
    user_id        uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id      text NOT NULL,
    redirect_uri   text NOT NULL,
    code_challenge text NOT NULL,
    expires_at     timestamptz NOT NULL
);

CREATE TABLE host_codes (
    code_hash  text PRIMARY KEY,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at timestamptz NOT NULL
);

CREATE TABLE device_codes (
    device_code_hash text PRIMARY KEY,
    user_code        text NOT NULL UNIQUE,
    state            text NOT NULL CHECK (state IN ('PENDING', 'APPROVED', 'DENIED')),
    user_id          uuid REFERENCES users (id) ON DELETE CASCADE,
    interval_secs    integer NOT NULL CHECK (interval_secs > 0),
    last_polled_at   timestamptz,
    expires_at       timestamptz NOT NULL,
    -- An approval names its user; nothing else does.
    CHECK ((state = 'APPROVED') = (user_id IS NOT NULL))
);

-- App Names belong to their first importer; compared without regard to case (the unique
-- index on lower(name) decides two concurrent first imports).
CREATE TABLE app_names (
    name       text NOT NULL,
    owner_id   uuid NOT NULL REFERENCES users (id),
    created_at timestamptz NOT NULL
);
CREATE UNIQUE INDEX app_names_name ON app_names (lower(name));
CREATE INDEX app_names_owner ON app_names (owner_id);

CREATE TABLE apps (
    id            uuid PRIMARY KEY,
    name          text NOT NULL,
    version       text NOT NULL,
    owner_id      uuid NOT NULL REFERENCES users (id),
    visibility    text NOT NULL CHECK (visibility IN ('PRIVATE', 'ALL_USERS')),
    title         text,
    description   text,
    keywords      jsonb NOT NULL CHECK (jsonb_typeof(keywords) = 'array'),
    manifest      jsonb NOT NULL CHECK (jsonb_typeof(manifest) = 'object'),
    bundle_sha256 text NOT NULL,
    bundle_size   bigint NOT NULL CHECK (bundle_size >= 0),
    icon          text,
    screenshots   jsonb NOT NULL CHECK (jsonb_typeof(screenshots) = 'array'),
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    -- The only arbiter of "this version exists", also under concurrent imports on any replica.
    UNIQUE (name, version)
);
CREATE INDEX apps_owner ON apps (owner_id);
CREATE INDEX apps_bundle ON apps (bundle_sha256);

CREATE TABLE instances (
    id             uuid PRIMARY KEY,
    app_id         uuid NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    owner_id       uuid NOT NULL REFERENCES users (id),
    visibility     text NOT NULL CHECK (visibility IN ('PRIVATE', 'ALL_USERS')),
    desired_state  text NOT NULL CHECK (desired_state IN ('RUNNING', 'SUSPENDED', 'TERMINATED')),
    status         text NOT NULL,
    status_message text,
    restarts       integer NOT NULL DEFAULT 0 CHECK (restarts >= 0),
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL
);
CREATE INDEX instances_app ON instances (app_id);
CREATE INDEX instances_owner ON instances (owner_id);
CREATE INDEX instances_to_run ON instances (created_at) WHERE desired_state = 'RUNNING';

-- A secret is its rule row here plus its key rows in `secrets`; the store writes both in one
-- transaction.
CREATE TABLE secret_access (
    name      text PRIMARY KEY,
    -- Every signed-in user may use it (else only admins and the users of secret_access_users).
    all_users boolean NOT NULL DEFAULT false,
    -- Any app may consume it (else only the app Names of secret_access_apps).
    any_app   boolean NOT NULL DEFAULT true
);

CREATE TABLE secrets (
    name  text NOT NULL REFERENCES secret_access (name) ON DELETE CASCADE,
    key   text NOT NULL,
    value text NOT NULL,
    PRIMARY KEY (name, key)
);

CREATE TABLE secret_access_users (
    name    text NOT NULL REFERENCES secret_access (name) ON DELETE CASCADE,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (name, user_id)
);

CREATE TABLE secret_access_apps (
    name     text NOT NULL REFERENCES secret_access (name) ON DELETE CASCADE,
    app_name text NOT NULL,
    PRIMARY KEY (name, app_name)
);
