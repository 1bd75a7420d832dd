"""An H2O Wave 0.26 app, unchanged: it says which Wave and Starlette it runs on."""

from importlib.metadata import version

from h2o_wave import Q, app, main, ui  # noqa: F401  (`main` is the ASGI entry point)


@app("/")
async def serve(q: Q):
    q.page["versions"] = ui.markdown_card(
        box="1 1 4 2",
        title="Old Wave on q8s",
        content=f"q8s-test: h2o-wave {version('h2o-wave')} on starlette {version('starlette')}",
    )
    await q.page.save()
