"""App icons for the Jupyter views: each app remembers (weakly) the client it was read from,
which fetches its icon from the API once; the icon is then kept as a ``data:`` URI (an app
never changes its bundle)."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._models import App

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


def icon_uri(app: App) -> str | None:
    """The app's icon as a ``data:`` URI, or ``None`` (no icon, or no client to fetch it)."""
    if app.icon_location is None:
        return None
    if app.id in _icons:
        return _icons[app.id]
    source = _sources.get(app.id)
    if source is None:
        return None
    import base64

    try:
        media_type, data = source.fetch(app.id)
    except Exception:  # a broken icon must not break showing the app
        uri = None
    else:
        uri = f"data:{media_type};base64,{base64.b64encode(data).decode('ascii')}"
    _icons[app.id] = uri
    return uri
