-- Who may use each secret (isolation.md, "Secrets"). A secret is its row here plus its key
-- rows in `secrets`; the store writes both in one transaction.

CREATE TABLE secret_access (
    name      TEXT PRIMARY KEY,
    -- Every signed-in user may use it (else only admins and the users of secret_access_users).
    all_users INTEGER NOT NULL DEFAULT 0 CHECK (all_users IN (0, 1)),
    -- Any app may consume it (else only the app Names of secret_access_apps).
    any_app   INTEGER NOT NULL DEFAULT 1 CHECK (any_app IN (0, 1))
);

CREATE TABLE secret_access_users (
    name    TEXT NOT NULL REFERENCES secret_access (name) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (name, user_id)
);

CREATE TABLE secret_access_apps (
    name     TEXT NOT NULL REFERENCES secret_access (name) ON DELETE CASCADE,
    app_name TEXT NOT NULL,
    PRIMARY KEY (name, app_name)
);

-- Secrets from before access rules: admins only, until an admin widens the rule.
INSERT INTO secret_access (name) SELECT DISTINCT name FROM secrets;
