"""The package's annotations and stubs, checked by mypy in strict mode: the package itself and
tests/python/typing_usage.py, which uses the whole public API as a user would."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import q8s
from conftest import REPO


def test_mypy_strict_accepts_the_package_and_its_usage() -> None:
    package = Path(q8s.__file__).parent  # as installed: stubs, py.typed and sources
    assert (package / "py.typed").exists() and (package / "_q8s.pyi").exists()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-incremental",
            str(package),
            str(REPO / "tests" / "python" / "typing_usage.py"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_rejects_a_misuse(tmp_path: Path) -> None:
    """The check can fail: a wrong type in user code is reported."""
    bad = tmp_path / "bad.py"
    bad.write_text("import q8s\nsize: str = q8s.bundle('app').size\n")
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(bad)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert 'Incompatible types in assignment (expression has type "int"' in result.stdout
