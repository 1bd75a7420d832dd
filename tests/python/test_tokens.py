"""Client.tokens() and Client.revoke_token() against a real q8s-server: tokens listed without
their secrets, revoked by Token or id, and a revoked token refused in so many words."""

from __future__ import annotations

import json
import urllib.request

import pytest
import q8s
from conftest import Server


def mint(server: Server, name: str) -> dict[str, str]:
    """A new admin token named ``name`` (``POST /api/v1/tokens``): its id and secret."""
    request = urllib.request.Request(
        f"{server.url}/api/v1/tokens",
        data=json.dumps({"name": name}).encode(),
        headers={
            "Authorization": f"Bearer {server.admin_token}",
            "Content-Type": "application/json",
        },
    )
    with urllib.request.urlopen(request) as response:
        created: dict[str, str] = json.load(response)
    return created


def test_tokens_are_listed_without_secrets_and_revoked(server: Server) -> None:
    first = mint(server, "py-one")
    second = mint(server, "py-two")
    client = q8s.Client(url=server.url, token=first["token"])
    tokens = client.tokens()
    assert all(isinstance(t, q8s.Token) for t in tokens)
    assert all(t.owner == "admin" for t in tokens)
    secrets = (server.admin_token, first["token"], second["token"])
    assert not any(secret in repr(tokens) for secret in secrets)
    by_id = {t.id: t for t in tokens}
    assert by_id[first["id"]].current and by_id[first["id"]].name == "py-one"
    assert by_id[first["id"]].last_used_at is not None, "this very call used it"
    assert not by_id[second["id"]].current
    assert by_id[second["id"]].last_used_at is None, "never used"
    assert by_id[second["id"]].created_at == second["created_at"]
    assert [t.id for t in client.tokens(all=True)] == [t.id for t in tokens], "only admins here"

    client.revoke_token(by_id[second["id"]])
    assert second["id"] not in {t.id for t in client.tokens()}
    with pytest.raises(q8s.NotFound):
        client.revoke_token(second["id"])
    client.revoke_token(first["id"])  # its own token: the client is signed out
    with pytest.raises(q8s.Unauthorized) as raised:
        client.tokens()
    assert raised.value.code == "unauthorized"
    assert str(raised.value).startswith(
        "the API token sent was refused: it was revoked, or it is not a token of this server"
    ), str(raised.value)
