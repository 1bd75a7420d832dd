-- App Names belong to their first importer (issue 10, name squatting): another user's import
-- under a Name is refused. A Name stays owned when all its versions are deleted; an admin
-- transfers it by changing owner_id. The unique key decides two concurrent first imports.

CREATE TABLE app_names (
    name       TEXT PRIMARY KEY,
    owner_id   TEXT NOT NULL REFERENCES users (id),
    created_at TEXT NOT NULL
);
CREATE INDEX app_names_owner ON app_names (owner_id);

-- Names imported before: each goes to the importer of its earliest version.
INSERT INTO app_names (name, owner_id, created_at)
SELECT name, owner_id, created_at FROM (
    SELECT name, owner_id, created_at,
           ROW_NUMBER() OVER (PARTITION BY name ORDER BY created_at, id) AS n
    FROM apps
)
WHERE n = 1;
