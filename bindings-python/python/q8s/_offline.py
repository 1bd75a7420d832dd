"""Bundles and manifests without a server: the same rules, bytes and diagnostics as
``q8s-cli bundle``, computed by the Rust core (with the GIL released)."""

from __future__ import annotations

import os
from typing import Union

from . import _q8s
from ._models import Bundle, Inspection, Manifest

StrPath = Union[str, "os.PathLike[str]"]


def bundle(path: StrPath, output: StrPath | None = None, explain: bool = False) -> Bundle:
    """Bundles the app folder ``path`` into ``output``: a file, or a folder to hold
    ``<Name>.<Version>.qz`` (the current folder when ``None``). Nothing is written when the
    app has errors: :class:`q8s.BundleError` lists them. With ``explain=True``,
    ``Bundle.explain`` tells, for every path seen, whether it is in and which rule decided.

    >>> import tempfile, q8s
    >>> b = q8s.bundle("examples/hello", output=tempfile.mkdtemp())
    >>> b.file_name, len(b.sha256), b.path.name == b.file_name
    ('ai.h2o.q8s.hello.0.1.0.qz', 64, True)
    >>> "q-app.toml" in b.files
    True
    >>> b = q8s.bundle("examples/hello", output=tempfile.mkdtemp(), explain=True)
    >>> [d for d in b.explain if d.path == "q-app.toml"]
    [Decision(path='q-app.toml', included=True, rule='included')]
    """
    return Bundle._from_dict(_q8s.build(path, output), explain)


def validate(path: StrPath) -> Manifest:
    """Checks an app folder (manifest and contents, as bundling would), a ``.qz`` (as the
    server does on import) or a manifest file. Returns the manifest, with its warnings in
    ``diagnostics``; raises :class:`q8s.ManifestError` when there is an error.

    >>> import q8s
    >>> m = q8s.validate("examples/hello")
    >>> m.app.title, m.app.version, m.runtime.module
    ('Hello q8s', '0.1.0', 'hello.app')
    """
    report = _q8s.validate(path)
    return Manifest._from_dict(report["manifest"], report["diagnostics"])


def validate_text(text: str) -> Manifest:
    """Checks manifest text (``q-app.toml`` contents).

    >>> import q8s
    >>> m = q8s.validate_text('''
    ... [App]
    ... Name = "ai.h2o.q.demo"
    ... Version = "0.1.0"
    ... [Runtime]
    ... Module = "demo.app"
    ... ''')
    >>> m.app.name, m.diagnostics
    ('ai.h2o.q.demo', ())
    >>> bad = '[App]\\nName = "demo"\\nVersion = "0.1"\\n[Runtime]\\nModule = "app"\\n'
    >>> try:
    ...     q8s.validate_text(bad)
    ... except q8s.ManifestError as e:
    ...     d = e.diagnostics[0]
    ...     print(d.code, d.path, d.line, d.column, d.help)
    invalid-version App.Version 3 11 use three numbers, e.g. "0.1.0"
    """
    report = _q8s.validate_text(text)
    return Manifest._from_dict(report["manifest"], report["diagnostics"])


def inspect(path: StrPath) -> Inspection:
    """Reads a ``.qz`` as the server does on import (every entry inflated and checked) and
    returns its manifest, entries and diagnostics. A broken archive raises
    :class:`q8s.BundleError`; an archive whose manifest or contents break a rule gives
    ``valid=False`` and the diagnostics.

    >>> import tempfile, q8s
    >>> b = q8s.bundle("examples/hello", output=tempfile.mkdtemp())
    >>> info = q8s.inspect(b.path)
    >>> info.valid, info.sha256 == b.sha256, [e.name for e in info.entries] == list(b.files)
    (True, True, True)
    """
    return Inspection._from_dict(_q8s.inspect(path))
