from h2o_wave import Q, app, ui


@app("/")
async def serve(q: Q) -> None:
    q.page["x"] = ui.markdown_card(box="1 1 3 2", title="Order", content="`a-b` < `a.b` < `a/b`")
    await q.page.save()
