"""An H2O AI Cloud app: reads the extra tables of its own app.toml at run time.

The page shows `[Brand] Name`, `[Brand] Color` and `[Data] Source`/`Rows`, so a test can
tell that the manifest reached the app unchanged, under its own name.
"""

import toml
from h2o_wave import Q, app, main, ui  # noqa: F401  (`main` is the ASGI entry point)

# The working directory is the bundle's root, as in H2O AI Cloud.
CONFIG = toml.load("app.toml")
BRAND = CONFIG["Brand"]
DATA = CONFIG["Data"]


def summary() -> str:
    """The line the page shows.

    "Tangerine Analytics #f28c28: quarterly-sales-2026Q3 (4242 rows)" for this app.toml.
    """
    return f"{BRAND['Name']} {BRAND['Color']}: {DATA['Source']} ({DATA['Rows']} rows)"


@app("/")
async def serve(q: Q) -> None:
    q.page["meta"] = ui.meta_card(box="", title=BRAND["Name"])
    q.page["brand"] = ui.markdown_card(
        box="1 1 6 2",
        title=BRAND["Name"],
        content=summary(),
    )
    await q.page.save()
