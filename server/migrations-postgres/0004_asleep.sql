-- An instance the server suspended because nobody used it (`--idle-suspend`): it wakes on the
-- next request through the proxy. One suspended by hand (desired SUSPENDED, asleep false) does
-- not wake by itself. Every change of the desired state clears it. SQLite's migration 0007.

ALTER TABLE instances ADD COLUMN asleep boolean NOT NULL DEFAULT false;
