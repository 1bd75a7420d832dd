from pathlib import Path

from h2o_wave import Q, app, main, ui  # noqa: F401

DATA = Path(__file__).parent.parent / "data"


@app("/")
async def serve(q: Q) -> None:
    names = sorted(p.name for p in DATA.iterdir())
    q.page["files"] = ui.markdown_card(
        box="1 1 4 4", title="Soubory · ファイル", content="\n".join(f"- {n}" for n in names)
    )
    await q.page.save()
