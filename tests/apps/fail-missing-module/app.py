import yaml  # PyYAML is not in requirements.txt
from h2o_wave import Q, app, main, ui  # noqa: F401 (`main` is what `wave run` serves)

SETTINGS = yaml.safe_load("title: Hello")


@app("/")
async def serve(q: Q):
    q.page["hello"] = ui.markdown_card(box="1 1 2 2", title=SETTINGS["title"], content="")
    await q.page.save()
