"""examples/publish-from-notebook.ipynb, executed for real (nbclient, an IPython kernel) against a
q8s-server: the app it writes is published, runs, and answers through the proxy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbclient
import nbformat
import pytest
import q8s
from conftest import REPO, Server

NOTEBOOK = REPO / "examples" / "publish-from-notebook.ipynb"
APP_NAME = "ai.h2o.q8s.notebook-greeter"


def outputs(cell: Any) -> str:
    """Everything a cell showed, as text (HTML and plain text of every output)."""
    parts = []
    for output in cell.get("outputs", []):
        parts.append(output.get("text", ""))
        for kind in ("text/html", "text/plain"):
            parts.append(output.get("data", {}).get(kind, ""))
    return "\n".join(parts)


def test_the_notebook_publishes_a_running_app(
    server: Server,
    client: q8s.Client,
    isolated_config: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The kernel inherits the environment: the client in the notebook finds the server there.
    monkeypatch.setenv("Q8S_URL", server.url)
    monkeypatch.setenv("Q8S_TOKEN", server.admin_token)
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3").execute()

    shown = [outputs(cell) for cell in notebook.cells if cell.cell_type == "code"]
    errors = [
        o for cell in notebook.cells for o in cell.get("outputs", []) if o["output_type"] == "error"
    ]
    assert not errors, errors

    instances = [i for i in client.instances() if i.app_name == APP_NAME and i.status == "RUNNING"]
    assert len(instances) == 1, instances
    instance = instances[0]
    # The notebook shows the validated manifest (the app has an icon: no warning), the app
    # card with its icon and the instance it runs, and the instance card with the app's icon
    # and Title and the link.
    assert not any("icon-missing" in text for text in shown)
    app_cards = [t for t in shown if "Notebook greeter" in t and "ai.h2o.q8s.notebook-greeter" in t]
    assert any("data:image/png;base64," in t and "1 instance (read " in t for t in app_cards), shown
    assert any(
        f'href="{instance.url}"' in t and "data:image/png;base64," in t and "Notebook greeter" in t
        for t in shown
    ), shown
    # The instance answers through the proxy.
    status, page = server.get_instance(instance, server.admin_token)
    assert status == 200
    assert b"wave" in page.lower()

    client.terminate(instance)
    client.delete_app(instance.app_id)
