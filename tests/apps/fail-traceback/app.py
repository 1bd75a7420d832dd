from h2o_wave import Q, app, main, ui  # noqa: F401 (`main` is what `wave run` serves)

# A classic: a number glued to a string without str().
REFRESH_SECONDS = "refresh every " + 30


@app("/")
async def serve(q: Q):
    q.page["hello"] = ui.markdown_card(box="1 1 2 2", title="Hello", content=REFRESH_SECONDS)
    await q.page.save()
