from h2o_wave import Q, app, main, ui  # noqa: F401 (`main` is what `wave run` serves)


@app("/")
async def serve(q: Q):
    q.page["hello"] = ui.markdown_card(box="1 1 2 2", title="Hello", content="never runs")
    await q.page.save()
