"""How Jupyter shows q8s values (``_repr_html_``): app and instance cards with the icon, title,
version, a status badge and a clickable URL; tables for lists; diagnostics as the CLI lists
them. Inline styles only, so the HTML looks the same in JupyterLab, classic notebooks and
exported pages."""

from __future__ import annotations

from collections.abc import Iterable
from html import escape
from typing import TYPE_CHECKING

from ._icons import icon_uri

if TYPE_CHECKING:
    from datetime import datetime

    from ._models import App, Diagnostic, Instance, Manifest

_STATUS_COLORS = {
    "PENDING": "#8a6d00",
    "STARTING": "#1f6feb",
    "RUNNING": "#1a7f37",
    "SUSPENDED": "#6e7781",
    "FAILED": "#cf222e",
    "TERMINATED": "#6e7781",
    "PRIVATE": "#6e7781",
    "ALL_USERS": "#8250df",
    "valid": "#1a7f37",
    "error": "#cf222e",
    "warning": "#9a6700",
    "note": "#1f6feb",
}

_CARD = (
    "display:flex;gap:12px;align-items:center;padding:8px 12px;margin:4px 0;"
    "border:1px solid #d0d7de;border-radius:8px;font-family:system-ui,sans-serif;"
    "max-width:720px"
)
_TABLE = "border-collapse:collapse;font-family:system-ui,sans-serif;font-size:13px"
_CELL = "padding:4px 8px;border-bottom:1px solid #d0d7de;text-align:left;vertical-align:top"


def badge(word: str) -> str:
    """A coloured pill with ``word`` (a status, a visibility, a severity)."""
    color = _STATUS_COLORS.get(word, "#6e7781")
    return (
        f'<span style="display:inline-block;padding:1px 8px;border-radius:10px;'
        f'font-size:11px;font-weight:600;color:#fff;background:{color}">{escape(word)}</span>'
    )


def link(url: str, text: str | None = None) -> str:
    """A link that opens in a new tab."""
    return (
        f'<a href="{escape(url, quote=True)}" target="_blank" rel="noopener">'
        f"{escape(text or url)}</a>"
    )


def _icon(uri: str | None, title: str, size: int = 48) -> str:
    if uri is not None:
        return (
            f'<img src="{uri}" alt="" width="{size}" height="{size}" '
            f'style="border-radius:8px;object-fit:cover">'
        )
    letter = escape(title[:1].upper() or "?")
    return (
        f'<div style="width:{size}px;height:{size}px;border-radius:8px;background:#d0d7de;'
        f"display:flex;align-items:center;justify-content:center;font-size:{size // 2}px;"
        f'color:#57606a;flex:none">{letter}</div>'
    )


def _read_at(when: datetime) -> str:
    """When the facts of a card were read: a card is a snapshot, not a live view."""
    return f"read {when.strftime('%H:%M:%S')} UTC"


def app_card(app: App) -> str:
    """An app: icon, title and version, name, visibility, owner, instances, description."""
    title = app.display_name
    description = (
        f'<div style="color:#57606a;font-size:13px">{escape(app.description)}</div>'
        if app.description
        else ""
    )
    instances = f"{app.instance_count} instance{'s' if app.instance_count != 1 else ''}"
    return (
        f'<div style="{_CARD}">{_icon(icon_uri(app.id, app.icon_location), title)}<div>'
        f'<div><b style="font-size:15px">{escape(title)}</b> '
        f'<span style="color:#57606a">{escape(app.version)}</span> {badge(app.visibility.value)}'
        f"</div>"
        f'<div style="font-size:12px;color:#57606a"><code>{escape(app.name)}</code> · '
        f"{escape(app.owner)} · {instances} ({_read_at(app.read_at)}) · "
        f"id <code>{escape(app.id)}</code></div>"
        f"{description}</div></div>"
    )


def _instance_title(instance: Instance) -> str:
    return instance.app_title or instance.app_name


def _instance_link(instance: Instance) -> str:
    """The instance's URL as a link, or as plain text once it is terminated (it answers 410)."""
    if instance.status == "TERMINATED":
        return f'<span style="color:#57606a">{escape(instance.url)} (terminated)</span>'
    return link(instance.url)


def instance_card(instance: Instance) -> str:
    """An instance: its app's icon and title, version, status badge (and message), link,
    visibility."""
    title = _instance_title(instance)
    icon = _icon(icon_uri(instance.app_id, instance.app_icon_location), title)
    message = (
        f'<div style="font-size:12px;color:#57606a">{escape(instance.status_message)}</div>'
        if instance.status_message
        else ""
    )
    return (
        f'<div style="{_CARD}">{icon}<div>'
        f'<div><b style="font-size:15px">{escape(title)}</b> '
        f'<span style="color:#57606a">{escape(instance.app_version)}</span> '
        f"{badge(instance.status.value)} {badge(instance.visibility.value)}</div>"
        f'<div style="font-size:13px">{_instance_link(instance)}</div>'
        f'<div style="font-size:12px;color:#57606a"><code>{escape(instance.app_name)}</code> · '
        f"instance <code>{escape(instance.id)}</code>"
        f" · {escape(instance.owner)} · {instance.restarts} restarts"
        f" · {_read_at(instance.read_at)}</div>"
        f"{message}</div></div>"
    )


def _table(headers: Iterable[str], rows: Iterable[Iterable[str]]) -> str:
    head = "".join(f'<th style="{_CELL}">{escape(h)}</th>' for h in headers)
    body = "".join(
        "<tr>" + "".join(f'<td style="{_CELL}">{cell}</td>' for cell in row) + "</tr>"
        for row in rows
    )
    return f'<table style="{_TABLE}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def app_table(apps: Iterable[App]) -> str:
    """Apps as a table (icon, title, version, name, visibility, instances, id)."""
    rows = [
        (
            _icon(icon_uri(a.id, a.icon_location), a.display_name, 24),
            f"<b>{escape(a.display_name)}</b>",
            escape(a.version),
            f"<code>{escape(a.name)}</code>",
            badge(a.visibility.value),
            str(a.instance_count),
            f"<code>{escape(a.id)}</code>",
        )
        for a in apps
    ]
    if not rows:
        return "<i>no apps</i>"
    return _table(("", "title", "version", "name", "visibility", "instances", "id"), rows)


def instance_table(instances: Iterable[Instance], terminated_omitted: int = 0) -> str:
    """Instances as a table (icon, app title, version, status, URL, visibility, id), and how
    many terminated ones the server left out."""
    rows = [
        (
            _icon(icon_uri(i.app_id, i.app_icon_location), _instance_title(i), 24),
            f"<b>{escape(_instance_title(i))}</b>",
            escape(i.app_version),
            badge(i.status.value)
            + (f"<br><small>{escape(i.status_message)}</small>" if i.status_message else ""),
            _instance_link(i),
            badge(i.visibility.value),
            f"<code>{escape(i.id)}</code>",
        )
        for i in instances
    ]
    one = terminated_omitted == 1
    footer = (
        f'<div style="font-size:12px;color:#57606a">{terminated_omitted} terminated '
        f"instance{'' if one else 's'} not shown "
        f'(<code>instances(status="all")</code> lists {"it" if one else "them"})</div>'
        if terminated_omitted
        else ""
    )
    if not rows:
        return "<i>no instances</i>" + footer
    headers = ("", "app", "version", "status", "url", "visibility", "id")
    return _table(headers, rows) + footer


def _location(d: Diagnostic) -> str:
    if d.line is not None:
        return f"{d.line}:{d.column}" if d.column is not None else str(d.line)
    return d.path


def diagnostics_table(diagnostics: Iterable[Diagnostic], title: str | None = None) -> str:
    """Diagnostics as the CLI lists them: severity, code, where, message and help."""
    rows = [
        (
            badge(d.severity),
            f"<code>{escape(d.code)}</code>",
            f"<code>{escape(_location(d))}</code>",
            escape(d.message)
            + (
                f'<br><small style="color:#57606a">help: {escape(d.help)}</small>' if d.help else ""
            ),
        )
        for d in diagnostics
    ]
    heading = f'<div style="font-weight:600;margin:4px 0">{escape(title)}</div>' if title else ""
    if not rows:
        return heading or "<i>no diagnostics</i>"
    return heading + _table(("", "code", "where", "message"), rows)


def manifest_card(manifest: Manifest, icon: str | None = None) -> str:
    """A manifest: icon (``data:`` URI, when known), title, version, name, module, category,
    keywords, and its warnings."""
    app = manifest.app
    title = app.title or app.name
    facts = [
        f"<code>{escape(app.name)}</code>",
        f"module <code>{escape(manifest.runtime.module)}</code>",
    ]
    if app.category:
        facts.append(escape(app.category))
    if app.keywords:
        facts.append(", ".join(escape(k) for k in app.keywords))
    card = (
        f'<div style="{_CARD}">{_icon(icon, title)}<div>'
        f'<div><b style="font-size:15px">{escape(title)}</b> '
        f'<span style="color:#57606a">{escape(app.version)}</span> {badge("valid")}</div>'
        f'<div style="font-size:12px;color:#57606a">{" · ".join(facts)}</div></div></div>'
    )
    if manifest.diagnostics:
        card += diagnostics_table(manifest.diagnostics)
    return card
