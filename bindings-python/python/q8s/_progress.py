"""Progress of uploads and instance starts (``progress=`` of imports, deploys and waits).

``True`` shows a live bar in Jupyter, a tqdm bar when tqdm is installed, and a text line on
stderr otherwise; a callable is called with ``(sent, total)`` bytes; ``False`` shows nothing.
"""

from __future__ import annotations

import importlib
import sys
import time
from html import escape
from typing import Any, Callable, Union

ProgressArg = Union[bool, Callable[[int, int], None]]


def human_size(n: float) -> str:
    """``1536`` → ``1.5 KiB``."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def in_notebook() -> bool:
    """True inside a Jupyter kernel (IPython with a kernel attached)."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    shell = ipython.get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


class Progress:
    """Where progress goes; this base shows nothing."""

    def update(self, sent: int, total: int) -> None:
        """``sent`` of ``total`` bytes are uploaded."""

    def status(self, text: str) -> None:
        """The instance being awaited is now ``text`` (``STARTING: installing…``)."""

    def close(self) -> None:
        """The operation ended (successfully or not)."""

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Callback(Progress):
    def __init__(self, callback: Callable[[int, int], None]) -> None:
        self.callback = callback

    def update(self, sent: int, total: int) -> None:
        self.callback(sent, total)


class _Text(Progress):
    """A line on stderr redrawn in place (``\\r``), and one line per status."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.drawn = False

    def update(self, sent: int, total: int) -> None:
        percent = 100 * sent // total if total else 100
        line = f"{self.label} {percent:3d}% ({human_size(sent)} of {human_size(total)})"
        sys.stderr.write(f"\r{line}")
        sys.stderr.flush()
        self.drawn = True

    def _end_line(self) -> None:
        if self.drawn:
            sys.stderr.write("\n")
            self.drawn = False

    def status(self, text: str) -> None:
        self._end_line()
        sys.stderr.write(f"{text}\n")
        sys.stderr.flush()

    def close(self) -> None:
        self._end_line()
        sys.stderr.flush()


class _Tqdm(Progress):
    """A tqdm bar in bytes; statuses are written above it."""

    def __init__(self, tqdm: Any, label: str) -> None:
        self.tqdm = tqdm
        self.label = label
        self.bar: Any = None

    def update(self, sent: int, total: int) -> None:
        if self.bar is None:
            self.bar = self.tqdm(
                total=total, desc=self.label, unit="B", unit_scale=True, unit_divisor=1024
            )
        self.bar.total = total
        self.bar.update(sent - self.bar.n)

    def status(self, text: str) -> None:
        self.tqdm.write(text, file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class _Notebook(Progress):
    """A bar and a status line in one output area, redrawn in place."""

    def __init__(self, label: str) -> None:
        # Imported as untyped modules: neither IPython nor tqdm is a dependency of q8s.
        ipython: Any = importlib.import_module("IPython.display")
        display = ipython.display
        self.html = ipython.HTML
        self.label = label
        self.bar = ""
        self.text = ""
        self.shown = 0.0
        self.handle: Any = display(self.html(self._render()), display_id=True)

    def _render(self) -> str:
        status = f'<div style="font-size:12px">{escape(self.text)}</div>' if self.text else ""
        return f'<div style="font-family:system-ui,sans-serif">{self.bar}{status}</div>'

    def _draw(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self.shown >= 0.1:
            self.shown = now
            if self.handle is not None:
                self.handle.update(self.html(self._render()))

    def update(self, sent: int, total: int) -> None:
        self.bar = (
            f'<div style="font-size:12px">{escape(self.label)} '
            f"{human_size(sent)} of {human_size(total)}</div>"
            f'<progress value="{sent}" max="{max(total, 1)}" style="width:320px"></progress>'
        )
        self._draw(force=sent == total)

    def status(self, text: str) -> None:
        self.text = text
        self._draw(force=True)

    def close(self) -> None:
        self._draw(force=True)


def open_progress(progress: ProgressArg, label: str) -> Progress:
    """The reporter ``progress=`` asks for."""
    if callable(progress):
        return _Callback(progress)
    if not progress:
        return Progress()
    if in_notebook():
        return _Notebook(label)
    try:
        tqdm: Any = importlib.import_module("tqdm.auto")
    except ImportError:
        return _Text(label)
    return _Tqdm(tqdm.tqdm, label)
