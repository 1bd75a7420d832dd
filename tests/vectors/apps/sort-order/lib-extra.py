# sorts before "lib/" bytewise, after it in a per-folder walk
