-- When each API token was last used (at most about a minute old: the server writes it once a
-- minute per token, not on every request). NULL until its first use.

ALTER TABLE tokens ADD COLUMN last_used_at TEXT;
