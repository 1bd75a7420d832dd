from h2o_wave import Q, app, main, ui  # noqa: F401

from lib.helpers import shout


@app("/")
async def serve(q: Q) -> None:
    q.page["hi"] = ui.markdown_card(box="1 1 3 2", title="Links", content=shout("linked"))
    await q.page.save()
