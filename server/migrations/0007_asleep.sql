-- An instance the server suspended because nobody used it (`--idle-suspend`): it wakes on the
-- next request through the proxy. One suspended by hand (desired SUSPENDED, asleep 0) does
-- not wake by itself. Every change of the desired state clears it.

ALTER TABLE instances ADD COLUMN asleep INTEGER NOT NULL DEFAULT 0 CHECK (asleep IN (0, 1));
