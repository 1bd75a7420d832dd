from h2o_wave import Q, app, main, ui  # noqa: F401
from q8s_vector_greeting import greet


@app("/")
async def serve(q: Q) -> None:
    q.page["hi"] = ui.markdown_card(box="1 1 3 2", title="Wheel", content=greet("q8s"))
    await q.page.save()
