"""The offline API beyond the vectors: what each call accepts, returns and raises."""

from __future__ import annotations

import dataclasses
import threading
import time
import zipfile
from pathlib import Path

import pytest
import q8s
from conftest import REPO, VECTORS

HELLO = REPO / "examples" / "hello"


def test_bundle_writes_name_version_qz_and_describes_it(tmp_path: Path) -> None:
    b = q8s.bundle(HELLO, output=tmp_path)
    assert b.path == tmp_path / "ai.h2o.q8s.hello.0.1.0.qz"
    assert (b.name, b.version, b.file_name) == ("ai.h2o.q8s.hello", "0.1.0", b.path.name)
    assert b.icon is not None and b.icon in b.files
    assert b.explain is None
    assert b.diagnostics == ()
    with pytest.raises(dataclasses.FrozenInstanceError):
        b.size = 0  # type: ignore[misc]


def test_bundle_without_output_writes_into_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    b = q8s.bundle(str(HELLO))
    assert b.path.resolve() == (tmp_path / b.file_name).resolve()
    assert b.path.exists()


def test_explain_lists_every_path_and_its_rule(tmp_path: Path) -> None:
    app = VECTORS / "apps" / "with-ignores"
    b = q8s.bundle(app, output=tmp_path, explain=True)
    assert b.explain is not None
    decided = {d.path: d for d in b.explain}
    assert decided["app.log"].included is False and decided["app.log"].rule
    assert decided["q-app.toml"].included is True
    path, included, rule = decided["app/debug.log"]  # a plain tuple too
    assert (path, included) == ("app/debug.log", False) and ".gitignore" in rule
    assert {d.path for d in b.explain if d.included and not d.path.endswith("/")} == set(b.files)


def test_an_invalid_folder_raises_with_diagnostics_and_the_cli_text(tmp_path: Path) -> None:
    with pytest.raises(q8s.BundleError) as raised:
        q8s.bundle(VECTORS / "apps" / "broken", output=tmp_path)
    e = raised.value
    assert isinstance(e, q8s.Error)
    assert e.code == "invalid-bundle"
    first, *rest = str(e).splitlines()
    assert first.endswith("(and 3 more errors)")
    # Positioned findings first: the wheels, at their lines of requirements.txt.
    assert rest[0].startswith("error[wheel-missing]: requirements.txt line 2 ")
    assert "  --> requirements.txt:2:1" in rest
    assert any(line.startswith("error[module-missing]: ") for line in rest)
    assert all(isinstance(d, q8s.Diagnostic) for d in e.diagnostics)


def test_io_errors_are_bundle_errors(tmp_path: Path) -> None:
    with pytest.raises(q8s.BundleError) as raised:
        q8s.bundle(tmp_path / "missing", output=tmp_path)
    assert raised.value.code == "io-error"
    assert raised.value.diagnostics == ()


def test_validate_takes_a_folder_a_manifest_file_or_a_bundle(tmp_path: Path) -> None:
    from_folder = q8s.validate(HELLO)
    from_file = q8s.validate(HELLO / "q-app.toml")
    from_qz = q8s.validate(q8s.bundle(HELLO, output=tmp_path).path)
    assert from_folder.app == from_file.app == from_qz.app
    assert from_folder.runtime.memory_limit == "256Mi"
    # A folder is checked as bundling checks it: contents too.
    minimal = q8s.validate(VECTORS / "apps" / "minimal")
    assert sorted(d.code for d in minimal.diagnostics) == ["icon-missing", "requirements-missing"]
    with pytest.raises(q8s.ManifestError) as raised:
        q8s.validate(VECTORS / "apps" / "broken")
    assert "module-missing" in {d.code for d in raised.value.diagnostics}


def test_manifest_errors_read_like_the_cli() -> None:
    text = '[App]\nName = "demo"\nVersion = "0.1"\n[Runtime]\nModule = "app"\n'
    with pytest.raises(q8s.ManifestError) as raised:
        q8s.validate_text(text)
    assert str(raised.value).splitlines() == [
        'App.Version "0.1" is not a semantic version',
        'error[invalid-version]: App.Version "0.1" is not a semantic version',
        "  --> q-app.toml:3:11",
        '   = help: use three numbers, e.g. "0.1.0"',
    ]
    assert "invalid-version" in raised.value._repr_html_()


def test_inspect_reports_entries_and_a_bad_manifest_without_raising(tmp_path: Path) -> None:
    b = q8s.bundle(VECTORS / "apps" / "executable", output=tmp_path)
    info = q8s.inspect(b.path)
    assert info.valid and info.manifest is not None
    assert info.sha256 == b.sha256
    assert [e.name for e in info.entries if e.executable] == ["bin/report", "setup.sh"]
    assert all(e.size >= 0 and e.compressed_size >= 0 for e in info.entries)
    # A file that is not an archive at all.
    junk = tmp_path / "junk.qz"
    junk.write_bytes(b"not a zip")
    with pytest.raises(q8s.BundleError) as raised:
        q8s.inspect(junk)
    assert raised.value.diagnostics, "the reader says why"


def test_a_well_formed_qz_with_a_bad_manifest_is_valid_false(tmp_path: Path) -> None:
    qz = tmp_path / "bad.qz"
    with zipfile.ZipFile(qz, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("q-app.toml", '[App]\nName = "demo"\nVersion = "1"\n[Runtime]\nModule = "app"\n')
        z.writestr("app.py", "print('hi')\n")
        z.writestr("requirements.txt", "")
    info = q8s.inspect(qz)
    assert not info.valid and info.manifest is None
    assert "invalid-version" in {d.code for d in info.diagnostics}
    assert [e.name for e in info.entries] == [
        "q-app.toml",
        "app.py",
        "requirements.txt",
    ]  # archive order
    with pytest.raises(q8s.ManifestError):
        q8s.validate(qz)


def test_bundling_releases_the_gil(tmp_path: Path) -> None:
    """Another Python thread keeps running while the core bundles."""
    ticks = 0
    done = threading.Event()

    def count() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            time.sleep(0.0005)

    counter = threading.Thread(target=count)
    counter.start()
    try:
        started = time.monotonic()
        rounds = 0
        while time.monotonic() - started < 0.5:
            q8s.bundle(HELLO, output=tmp_path / f"{rounds}.qz")
            rounds += 1
    finally:
        done.set()
        counter.join()
    assert ticks > 50, (ticks, rounds)


def test_reprs_for_jupyter(tmp_path: Path) -> None:
    m = q8s.validate(VECTORS / "apps" / "minimal")
    html = m._repr_html_()
    assert m.app.version in html and "icon-missing" in html
    d = m.diagnostics[0]
    assert d.code in d._repr_html_()


def test_errors_and_results_pickle(tmp_path: Path) -> None:
    """Values and errors cross process boundaries (multiprocessing) intact."""
    import pickle

    with pytest.raises(q8s.ManifestError) as raised:
        q8s.validate(VECTORS / "apps" / "broken")
    copy = pickle.loads(pickle.dumps(raised.value))
    assert type(copy) is q8s.ManifestError
    assert (str(copy), copy.code, copy.diagnostics) == (
        str(raised.value),
        raised.value.code,
        raised.value.diagnostics,
    )
    conflict = q8s.Conflict("exists (app-version-exists)", code="app-version-exists", status=409)
    assert pickle.loads(pickle.dumps(conflict)).status == 409
    b = q8s.bundle(HELLO, output=tmp_path, explain=True)
    assert pickle.loads(pickle.dumps(b)) == b
    assert pickle.loads(pickle.dumps(q8s.Visibility.ALL_USERS)) is q8s.Visibility.ALL_USERS


def test_an_h2o_ai_cloud_app_validates_with_notes() -> None:
    manifest = q8s.validate(REPO / "tests" / "apps" / "cloud-app")
    assert manifest.app.name == "ai.h2o.wave.cloud-app"
    notes = [(d.code, d.path) for d in manifest.diagnostics if d.severity == "note"]
    assert notes == [
        ("extra-table", "Brand"),
        ("extra-table", "Data"),
        ("cloud-manifest-name", "app.toml"),
    ]
    assert not any(d.is_error for d in manifest.diagnostics)
