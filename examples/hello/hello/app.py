"""A greeting form and a click counter, served by H2O Wave at `/`.

Run it the way q8s does: `python -m h2o_wave run hello.app`.
"""

from h2o_wave import Q, app, main, ui  # noqa: F401  (`main` is the ASGI entry point)

GREETINGS = {
    "en": "Hello",
    "fr": "Bonjour",
    "de": "Hallo",
    "cs": "Ahoj",
    "es": "Hola",
}


def greeting(name: str, language: str) -> str:
    """The greeting shown on the page, e.g. "Hello, Ada!"."""
    name = name.strip() or "world"
    return f"{GREETINGS.get(language, GREETINGS['en'])}, {name}!"


def render_form(q: Q) -> None:
    """(Re)draw the form so it keeps the visitor's last input."""
    q.page["form"] = ui.form_card(
        box="1 2 4 3",
        title="Say hello",
        items=[
            ui.textbox(name="name", label="Your name", value=q.client.name),
            ui.choice_group(
                name="language",
                label="Language",
                value=q.client.language,
                inline=True,
                choices=[ui.choice(code, text) for code, text in GREETINGS.items()],
            ),
            ui.buttons(
                [
                    ui.button(name="greet", label="Greet me", primary=True),
                    ui.button(name="reset", label="Reset"),
                ]
            ),
        ],
    )


def render_result(q: Q) -> None:
    q.page["greeting"] = ui.markdown_card(
        box="5 2 4 2",
        title="Greeting",
        content=f"## {greeting(q.client.name, q.client.language)}",
    )
    q.page["counter"] = ui.small_stat_card(
        box="5 4 2 1",
        title="Greetings this session",
        value=str(q.client.greetings),
    )
    q.page["visitors"] = ui.small_stat_card(
        box="7 4 2 1",
        title="Greetings, all visitors",
        value=str(q.app.greetings),
    )


@app("/")
async def serve(q: Q) -> None:
    if not q.app.initialized:
        q.app.greetings = 0
        q.app.initialized = True

    if not q.client.initialized:
        q.client.name = ""
        q.client.language = "en"
        q.client.greetings = 0
        q.client.initialized = True
        q.page["meta"] = ui.meta_card(box="", title="Hello q8s", theme="h2o-dark")
        q.page["header"] = ui.header_card(
            box="1 1 8 1",
            title="Hello q8s",
            subtitle="An H2O Wave app, bundled and hosted by q8s",
            icon="Emoji2",
        )
        q.page["footer"] = ui.footer_card(
            box="1 5 8 1", caption="Made with H2O Wave · packaged with `q8s-cli bundle`"
        )
    elif q.args.greet:
        q.client.name = q.args.name or ""
        q.client.language = q.args.language or "en"
        q.client.greetings += 1
        q.app.greetings += 1
    elif q.args.reset:
        q.client.name = ""
        q.client.language = "en"
        q.client.greetings = 0

    render_form(q)
    render_result(q)
    await q.page.save()
