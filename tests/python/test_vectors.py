"""The shared vectors of tests/vectors/ (see its README), read from Python: every manifest case
gives exactly the expected diagnostics, every app folder the expected files, modes, codes and
bytes, as in the Rust tests."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import q8s
from conftest import VECTORS, binary

MANIFESTS = sorted((VECTORS / "manifests").glob("*.toml"))
APPS = sorted(p for p in (VECTORS / "apps").iterdir() if p.is_dir())


def test_the_vectors_are_there() -> None:
    assert len(MANIFESTS) > 100
    assert len(APPS) >= 10


def outcome(validate: Any) -> dict[str, Any]:
    """``{"valid", "diagnostics"}`` as in the vector files, from a validating call."""
    try:
        manifest = validate()
    except q8s.ManifestError as e:
        assert e.code == "invalid-bundle"
        assert any(d.is_error for d in e.diagnostics)
        return {"valid": False, "diagnostics": [d.to_dict() for d in e.diagnostics]}
    assert isinstance(manifest, q8s.Manifest)
    assert not any(d.is_error for d in manifest.diagnostics)
    return {"valid": True, "diagnostics": [d.to_dict() for d in manifest.diagnostics]}


@pytest.mark.parametrize("case", MANIFESTS, ids=lambda p: p.stem)
def test_manifest_vector(case: Path) -> None:
    expected = json.loads(case.with_suffix(".json").read_text(encoding="utf-8"))
    # The file's bytes, as `bundle validate q-app.toml` reads them.
    assert outcome(lambda: q8s.validate(case)) == expected
    # The text, for every case that is text.
    if case.stem != "error-not-utf8":
        text = case.read_bytes().decode("utf-8")
        assert outcome(lambda: q8s.validate_text(text)) == expected


def expectation(app: Path) -> dict[str, Any]:
    return json.loads(app.with_suffix(".json").read_text(encoding="utf-8"))


def cli_sha256(app: Path, out: Path) -> str:
    """The sha256 `q8s-cli bundle` gives for the folder (the Rust side of the comparison)."""
    cli = binary("q8s-cli", "Q8S_CLI")
    result = subprocess.run(
        [str(cli), "bundle", str(app), "-o", "json"],
        cwd=out,
        capture_output=True,
        text=True,
        check=True,
    )
    return str(json.loads(result.stdout)["sha256"])


@pytest.mark.parametrize("app", APPS, ids=lambda p: p.name)
def test_app_vector(app: Path, tmp_path: Path) -> None:
    expected = expectation(app)
    for name in expected["excluded"]:
        assert (app / name).exists() or (app / name).is_symlink(), f"fixture lost: {name}"
    out = tmp_path / "out"
    out.mkdir()
    if not expected["valid"]:
        with pytest.raises(q8s.BundleError) as raised:
            q8s.bundle(app, output=out)
        assert raised.value.code == "invalid-bundle"
        codes = sorted(d.code for d in raised.value.diagnostics)
        assert codes == sorted(expected["diagnostics_codes"])
        if "diagnostics" in expected:
            assert [d.to_dict() for d in raised.value.diagnostics] == expected["diagnostics"]
        assert list(out.iterdir()) == [], "nothing is written for an invalid folder"
        return

    b = q8s.bundle(app, output=out)
    assert list(b.files) == expected["files"]
    assert not set(expected["excluded"]) & set(b.files)
    assert sorted(d.code for d in b.diagnostics) == sorted(expected["diagnostics_codes"])
    if "diagnostics" in expected:
        assert [d.to_dict() for d in b.diagnostics] == expected["diagnostics"]
    assert b.path == out / b.file_name
    assert b.size == b.path.stat().st_size
    entries = q8s.inspect(b.path).entries
    assert [e.name for e in entries] == expected["files"]
    assert [e.name for e in entries if e.executable] == expected["executable"]
    # The same bytes as the Rust CLI writes, and as the vector pins (once blessed).
    assert b.sha256 == cli_sha256(app, tmp_path)
    if expected["sha256"] is not None:
        assert b.sha256 == expected["sha256"]


def test_bundles_are_the_same_bytes_whatever_the_output_path(tmp_path: Path) -> None:
    app = VECTORS / "apps" / "unicode"
    a = q8s.bundle(app, output=tmp_path / "a.qz")
    (tmp_path / "b").mkdir()
    b = q8s.bundle(app, output=tmp_path / "b")
    assert a.path == tmp_path / "a.qz"
    assert a.path.read_bytes() == b.path.read_bytes()
    assert a.sha256 == b.sha256
