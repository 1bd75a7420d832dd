"""A Wave app that starts a JVM, as apps built on h2o-3 do, and shows what it said."""

import subprocess

from h2o_wave import Q, app, main, ui  # noqa: F401  (`main` is the ASGI entry point)


def probe_java() -> str:
    """Runs Probe.java on the system's Java; its first line, or why it failed."""
    try:
        run = subprocess.run(
            ["java", "-Xmx128m", "Probe.java"], capture_output=True, text=True, timeout=120
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"java did not run: {e}"
    if run.returncode != 0:
        print(run.stderr, flush=True)
        return f"java failed ({run.returncode}): {run.stderr.strip().splitlines()[:1]}"
    return run.stdout.strip()


JAVA = probe_java()
print(f"q8s-test: {JAVA}", flush=True)


@app("/")
async def serve(q: Q):
    q.page["java"] = ui.markdown_card(box="1 1 6 2", title="JVM", content=f"q8s-test: {JAVA}")
    await q.page.save()
