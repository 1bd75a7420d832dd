from h2o_wave import Q, app, main, ui  # noqa: F401


@app("/")
async def serve(q: Q) -> None:
    q.page["hi"] = ui.markdown_card(box="1 1 3 2", title="Legacy", content="Started as `python -m legacy`.")
    await q.page.save()
