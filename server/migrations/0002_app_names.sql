-- App Names belong to their first importer (issue 10, name squatting): another user's import
-- under a Name is refused. A Name stays owned when all its versions are deleted; an admin
-- transfers it by changing owner_id. The primary key decides two concurrent first imports.
-- Names are ASCII, and compared without regard to case, so `Ai.H2o.Hello` is not a way
-- around the owner of `ai.h2o.hello`.

CREATE TABLE app_names (
    name       TEXT PRIMARY KEY COLLATE NOCASE,
    owner_id   TEXT NOT NULL REFERENCES users (id),
    created_at TEXT NOT NULL
);
CREATE INDEX app_names_owner ON app_names (owner_id);

-- Names imported before: each (in any case) goes to the importer of its earliest version.
INSERT INTO app_names (name, owner_id, created_at)
SELECT name, owner_id, created_at FROM (
    SELECT name, owner_id, created_at,
           ROW_NUMBER() OVER (PARTITION BY lower(name) ORDER BY created_at, id) AS n
    FROM apps
)
WHERE n = 1;
