"""A Wave app that draws a matplotlib figure with a title and labels, as a PNG image card."""

import base64
import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from h2o_wave import Q, app, main, ui  # noqa: E402, F401  (`main` is the ASGI entry point)
from matplotlib import font_manager  # noqa: E402


def figure() -> bytes:
    """A line chart with text in it, as PNG bytes."""
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.plot([1, 2, 3, 4], [1, 4, 2, 3])
    ax.set_title("Sales by quarter")
    ax.set_xlabel("quarter")
    ax.set_ylabel("sales")
    out = io.BytesIO()
    fig.savefig(out, format="png")
    plt.close(fig)
    return out.getvalue()


PNG = figure()
FONT = Path(font_manager.findfont(font_manager.FontProperties(family=["sans-serif"]))).name
print(f"q8s-test: figure of {len(PNG)} bytes, text in {FONT}", flush=True)


@app("/")
async def serve(q: Q):
    q.page["text"] = ui.markdown_card(
        box="1 1 4 1",
        title="Figure",
        content=f"q8s-test: matplotlib {matplotlib.__version__}, text in {FONT}",
    )
    q.page["figure"] = ui.image_card(
        box="1 2 4 4", title="Sales", type="png", image=base64.b64encode(PNG).decode()
    )
    await q.page.save()
