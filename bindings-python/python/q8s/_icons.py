"""App icons for the Jupyter views: each app (and instance) remembers (weakly) the client it
was read from, which fetches the app's icon from the API once; the icon is then kept as a
``data:`` URI (an app never changes its bundle). A ``.qz`` on disk gives its own."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

IconFetcher = Callable[[str], tuple[str, bytes]]


class IconSource:
    """Something that can fetch icons: the ``Client`` that read an app holds one."""

    def __init__(self, fetch: IconFetcher) -> None:
        self.fetch = fetch


# Weak: showing an app never keeps its client alive.
_sources: weakref.WeakValueDictionary[str, IconSource] = weakref.WeakValueDictionary()
_icons: dict[str, str | None] = {}


def remember_source(app_id: str, source: IconSource) -> None:
    """Notes that the icon of the app ``app_id`` can be fetched from ``source``."""
    _sources[app_id] = source


def icon_uri(app_id: str, icon_location: str | None) -> str | None:
    """The icon of the app ``app_id`` as a ``data:`` URI, or ``None`` (no icon, or no client
    to fetch it)."""
    if icon_location is None:
        return None
    if app_id in _icons:
        return _icons[app_id]
    source = _sources.get(app_id)
    if source is None:
        return None
    try:
        media_type, data = source.fetch(app_id)
    except Exception:  # a broken icon must not break showing the app
        uri = None
    else:
        uri = _data_uri(media_type, data)
    _icons[app_id] = uri
    return uri


def bundle_icon_uri(path: Path) -> str | None:
    """The icon inside the ``.qz`` at ``path`` as a ``data:`` URI, or ``None``."""
    from . import _q8s

    try:
        found = _q8s.bundle_icon(path)
    except Exception:  # a broken icon must not break showing the bundle
        return None
    return None if found is None else _data_uri(*found)


def _data_uri(media_type: str, data: bytes) -> str:
    import base64

    return f"data:{media_type};base64,{base64.b64encode(data).decode('ascii')}"
