from h2o_wave import Q, app, main, ui  # noqa: F401


@app("/")
async def serve(q: Q) -> None:
    q.page["hello"] = ui.markdown_card(box="1 1 3 2", title="Minimal", content="Hello!")
    await q.page.save()
