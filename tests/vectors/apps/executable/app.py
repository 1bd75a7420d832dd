import subprocess
from pathlib import Path

from h2o_wave import Q, app, main, ui  # noqa: F401

TOOL = Path(__file__).parent / "bin" / "report"


@app("/")
async def serve(q: Q) -> None:
    out = subprocess.run([str(TOOL)], capture_output=True, text=True, check=True).stdout
    q.page["report"] = ui.markdown_card(box="1 1 4 3", title="Report", content=f"```\n{out}\n```")
    await q.page.save()
