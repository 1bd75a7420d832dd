-- Lists are paged by their sort key (keyset pagination): each order has an index, so the first
-- page and the hundredth cost the same seek, whatever the size of the catalog. Names sort as
-- bytes (COLLATE "C", as on SQLite), so their indexes do too.

-- Apps by Name, import time, id: every app (admins, `scope=all`), and a user's own.
CREATE INDEX apps_list ON apps (name COLLATE "C", created_at, id);
CREATE INDEX apps_owner_list ON apps (owner_id, name COLLATE "C", created_at, id);

-- Instances newest first: every instance, and a user's own; terminated ones counted by status.
CREATE INDEX instances_list ON instances (created_at, id);
CREATE INDEX instances_owner_list ON instances (owner_id, created_at, id);
CREATE INDEX instances_status ON instances (status);

-- Tokens oldest first: every user's, and one user's.
CREATE INDEX tokens_list ON tokens (created_at, id);
CREATE INDEX tokens_user_list ON tokens (user_id, created_at, id);

-- Users and secrets by name, as bytes.
CREATE INDEX users_list ON users (username COLLATE "C");
CREATE INDEX secret_access_list ON secret_access (name COLLATE "C");
