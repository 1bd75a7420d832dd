import csv
from pathlib import Path

from h2o_wave import Q, app, main, ui  # noqa: F401

CITIES = Path(__file__).parent.parent / "data" / "cities.csv"


@app("/")
async def serve(q: Q) -> None:
    with CITIES.open(newline="") as f:
        rows = list(csv.reader(f))
    q.page["cities"] = ui.markdown_card(
        box="1 1 3 3", title="Cities", content="\n".join(f"- {name}" for name, *_ in rows[1:])
    )
    await q.page.save()
