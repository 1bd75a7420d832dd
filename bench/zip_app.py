"""Zips an app folder into a bundle the way the benchmarks need one: every file but
`__pycache__` and `.venv`, in a stable order (the server verifies it like any other).

    python3 bench/zip_app.py APP_FOLDER OUT.qz
"""

import os
import sys
import zipfile

root, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in ("__pycache__", ".venv"))
        for name in sorted(files):
            path = os.path.join(folder, name)
            z.write(path, os.path.relpath(path, root))
