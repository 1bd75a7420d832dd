"""Checked by `mypy --strict` (test_typing.py), never run: the public API as a user types it.
A wrong stub or annotation in q8s makes mypy fail here."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import q8s


def offline(folder: Path, text: str) -> tuple[str, int, int | None]:
    b: q8s.Bundle = q8s.bundle(folder, output="dist/", explain=True)
    included = [d.path for d in b.explain or () if d.included]
    m: q8s.Manifest = q8s.validate(folder)
    try:
        q8s.validate_text(text)
    except q8s.ManifestError as e:
        first: q8s.Diagnostic = e.diagnostics[0]
        line: int | None = first.line
        return first.code, len(included), line
    info: q8s.Inspection = q8s.inspect(b.path)
    entry: q8s.Entry = info.entries[0]
    return m.app.name + entry.name + b.sha256, b.size, None


def online(folder: str) -> Iterator[str]:
    client = q8s.Client()
    client = q8s.Client(url="http://127.0.0.1:8008", token="q8s_x", profile=None)
    app: q8s.App = client.import_bundle(q8s.bundle(folder), visibility="PRIVATE", progress=True)
    app = client.update_app(app.id, visibility=q8s.Visibility.ALL_USERS)
    instance: q8s.Instance = client.run(app, q8s.Visibility.ALL_USERS)
    deployed: q8s.Deployment = client.deploy(folder, wait=True, timeout=60.0)
    app, instance = deployed
    apps: q8s.AppList = client.apps(all=True)
    instances: list[q8s.Instance] = client.instances()
    status: q8s.InstanceStatus = client.wait(instance.id, "RUNNING", timeout=120).status
    client.suspend(instance)
    client.resume(instance.id)
    client.update_instance(instance, visibility="PRIVATE")
    client.terminate(instance)
    client.delete_app(app)
    yield from client.logs(instance, follow=True)
    with client.logs(instance.id, tail=10) as lines:
        yield from lines
    yield f"{len(apps)} {len(instances)} {status.value} {client.url} {client.me().username}"
    client.import_bundle("app.qz", progress=lambda sent, total: None)


def secrets() -> str:
    client = q8s.Client()
    s: q8s.Secret = client.set_secret("db", {"password": "x"}, users=["alice"], apps=["a.b"])
    s = client.set_secret("db", {"password": "y"})
    s = client.set_secret_access("db", users="ALL_USERS", any_app=True)
    access: q8s.SecretAccess | None = s.access
    listed: list[q8s.Secret] = client.secrets()
    client.delete_secret("db")
    users = access.users if access else ()
    return f"{s.name} {s.keys} {users} {len(listed)}"


def tokens() -> str:
    client = q8s.Client()
    listed: list[q8s.Token] = client.tokens(all=True)
    last: str | None = listed[0].last_used_at
    client.revoke_token(listed[0])
    client.revoke_token(listed[-1].id)
    return f"{listed[0].name} {listed[0].current} {last}"


def errors() -> str:
    try:
        q8s.Client().apps()
    except q8s.Conflict as e:
        return f"{e.status} {e.code} {len(e.details)}"
    except q8s.ApiError as e:
        return f"{e.status} {e.code} {len(e.diagnostics)}"
    except q8s.InstanceError as e:
        return f"{e.instance.status} {e.log_tail}"
    except q8s.Error as e:
        return e.code + e.message
    return q8s.__version__
