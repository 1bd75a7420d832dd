#!/usr/bin/env python3
"""Generate the reference app folder of the bundle benchmark, deterministically.

About 150 MB, shaped like a real app with vendored dependencies:

- ~3,000 text files of 1-50 KB in nested packages: pseudo-Python built from a
  vocabulary, plus Markdown, JSON and CSS, compressible about 4x by deflate
  (as real source code is);
- 40 wheels of 0.5-3 MB and 60 PNG images: random bytes behind the right
  magic, so incompressible (as real wheels and images nearly are);
- a valid `q-app.toml`, `requirements.txt` naming two of the wheels, and
  `static/icon.png`.

The same seed gives the same bytes on every run of the same Python, so
timings are comparable between runs and machines.

    python3 bench/gen_tree.py OUT_DIR [--seed N]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
from make_png import hello_icon  # noqa: E402

TEXT_FILES = 3000
WHEELS = 40
IMAGES = 60
KIB = 1024
MIB = 1024 * KIB

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

WORDS = (
    "account active add address after amount api app apply args async await "
    "balance batch before body buffer build cache call cancel card category "
    "chart check child choice client close code column config context count "
    "create current data date default delete detail dialog done draft edit "
    "email empty entry error event expire export field file filter first "
    "flag form format frame group handle header height history id image "
    "index input item key label last layout limit line link list load local "
    "lock log main map mark message meta mode model name next node number "
    "offset option order owner page panel parent path plot point price "
    "query queue range rate record region render report request reset "
    "result retry role route row rule sample save scale schema score search "
    "section select session setting shape size sort source state status "
    "step store style summary table tag task text theme time title token "
    "total track type update user value version view visible width window"
).split()

TYPES = ["int", "str", "float", "bool", "dict", "list[str]", "Optional[int]", "Any"]


class Writer:
    """Pseudo-source text from a seeded generator."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def name(self, parts: int = 2) -> str:
        return "_".join(self.rng.choice(WORDS) for _ in range(parts))

    def camel(self) -> str:
        return "".join(w.capitalize() for w in self.name(self.rng.randint(1, 3)).split("_"))

    def expr(self) -> str:
        rng = self.rng
        pick = rng.randrange(6)
        if pick == 0:
            return str(rng.randint(0, 1000))
        if pick == 1:
            return f'"{self.name(rng.randint(1, 3))}"'
        if pick == 2:
            return f"{self.name()}({self.name(1)}, {self.name(1)}={rng.randint(0, 99)})"
        if pick == 3:
            return f"self.{self.name()}"
        if pick == 4:
            return f"[{', '.join(self.name(1) for _ in range(rng.randint(1, 4)))}]"
        return f"{self.name(1)}.get({self.name(1)!r}, None)"

    def function(self, indent: str) -> list[str]:
        rng = self.rng
        args = ", ".join(f"{self.name(1)}: {rng.choice(TYPES)}" for _ in range(rng.randint(0, 4)))
        lines = [f"{indent}def {self.name()}(self, {args}) -> {rng.choice(TYPES)}:"]
        lines.append(f'{indent}    """{self.name(3).replace("_", " ").capitalize()}."""')
        for _ in range(rng.randint(2, 12)):
            kind = rng.randrange(5)
            if kind == 0:
                lines.append(f"{indent}    if {self.name(1)} is None or {self.expr()}:")
                lines.append(f"{indent}        return {self.expr()}")
            elif kind == 1:
                lines.append(f"{indent}    for {self.name(1)} in {self.expr()}:")
                lines.append(f"{indent}        {self.name()} += {self.expr()}")
            elif kind == 2:
                lines.append(f"{indent}    # {self.name(4).replace('_', ' ')}")
            else:
                lines.append(f"{indent}    {self.name()} = {self.expr()}")
        lines.append(f"{indent}    return {self.expr()}")
        lines.append("")
        return lines

    def python(self, size: int) -> str:
        rng = self.rng
        lines = [f'"""{self.name(4).replace("_", " ").capitalize()}."""', ""]
        lines.append("from __future__ import annotations")
        lines.append("")
        lines.append("from typing import Any, Optional")
        for _ in range(rng.randint(1, 5)):
            lines.append(f"from .{self.name(1)} import {self.camel()}, {self.name()}")
        lines.append("")
        total = sum(len(line) + 1 for line in lines)
        while total < size:
            block = [f"class {self.camel()}({self.camel()}):", ""]
            for _ in range(rng.randint(1, 6)):
                block += self.function("    ")
            block.append("")
            lines += block
            total += sum(len(line) + 1 for line in block)
        return "\n".join(lines)[:size]

    def markdown(self, size: int) -> str:
        rng = self.rng
        out: list[str] = []
        total = 0
        while total < size:
            para = " ".join(rng.choice(WORDS) for _ in range(rng.randint(20, 80)))
            chunk = f"## {self.name(3).replace('_', ' ').title()}\n\n{para.capitalize()}.\n\n"
            out.append(chunk)
            total += len(chunk)
        return "".join(out)[:size]

    def json(self, size: int) -> str:
        rng = self.rng
        rows: list[str] = []
        total = 0
        while total < size:
            values = [str(rng.randint(0, 9999)), f'"{self.name()}"', "true", "null"]
            fields = ", ".join(
                f'"{self.name(1)}": {rng.choice(values)}' for _ in range(rng.randint(3, 8))
            )
            row = "  {" + fields + "}"
            rows.append(row)
            total += len(row) + 2
        return ("[\n" + ",\n".join(rows) + "\n]\n")[:size]

    def css(self, size: int) -> str:
        rng = self.rng
        out: list[str] = []
        total = 0
        while total < size:
            props = "".join(
                f"  {rng.choice(WORDS)}-{rng.choice(WORDS)}: {rng.randint(0, 64)}px;\n"
                for _ in range(rng.randint(2, 7))
            )
            rule = f".{self.name()} .{self.name(1)} {{\n{props}}}\n"
            out.append(rule)
            total += len(rule)
        return "".join(out)[:size]


def folders(rng: random.Random, count: int) -> list[str]:
    """Nested package folders, 1 to 4 levels deep."""
    result: list[str] = []
    while len(result) < count:
        depth = rng.randint(1, 4)
        parts = ["app"] + [
            rng.choice(WORDS) + ("s" if rng.random() < 0.3 else "") for _ in range(depth)
        ]
        path = "/".join(parts)
        if path not in result:
            result.append(path)
    return result


def write(root: Path, rel: str, data: bytes) -> int:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return len(data)


def generate(root: Path, seed: int) -> dict[str, int]:
    rng = random.Random(seed)
    text = Writer(rng)
    stats = {
        "text files": 0,
        "text bytes": 0,
        "wheels": 0,
        "wheel bytes": 0,
        "images": 0,
        "image bytes": 0,
    }

    wheel_names = [
        f"vendor_{text.name()}-{rng.randint(0, 9)}.{rng.randint(0, 30)}.0-py3-none-any.whl"
        for _ in range(WHEELS)
    ]
    write(
        root,
        "q-app.toml",
        b'[App]\nName = "bench.reference-app"\nVersion = "1.0.0"\nTitle = "Bundle benchmark"\n'
        b'Category = "Other"\n\n[Runtime]\nModule = "app.main"\nMemoryLimit = "512Mi"\n',
    )
    requirements = "h2o-wave==1.8.16\n" + "".join(f"./wheels/{w}\n" for w in wheel_names[:2])
    write(root, "requirements.txt", requirements.encode())
    write(root, "static/icon.png", hello_icon(64))
    write(root, "app/__init__.py", b"")
    write(root, "app/main.py", b"from h2o_wave import main, app, Q, ui  # noqa: F401\n")

    dirs = folders(rng, 160)
    makers = [
        (text.python, ".py", 70),
        (text.markdown, ".md", 10),
        (text.json, ".json", 12),
        (text.css, ".css", 8),
    ]
    weights = [w for _, _, w in makers]
    for i in range(TEXT_FILES):
        make, ext, _ = rng.choices(makers, weights)[0]
        size = rng.randint(1 * KIB, 50 * KIB)
        rel = f"{rng.choice(dirs)}/{text.name()}_{i}{ext}"
        stats["text bytes"] += write(root, rel, make(size).encode())
        stats["text files"] += 1

    for name in wheel_names:
        stats["wheel bytes"] += write(
            root, f"wheels/{name}", b"PK\x03\x04" + rng.randbytes(rng.randint(MIB // 2, 3 * MIB))
        )
        stats["wheels"] += 1

    for i in range(IMAGES):
        rel = f"static/screenshot-{i}.png" if i < 3 else f"app/assets/{text.name()}_{i}.png"
        stats["image bytes"] += write(
            root, rel, PNG_MAGIC + rng.randbytes(rng.randint(50 * KIB, 400 * KIB))
        )
        stats["images"] += 1
    return stats


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder to create (replaced when it exists)")
    parser.add_argument("--seed", type=int, default=20201013)
    args = parser.parse_args()

    # Build beside the target and rename, so an interrupted run leaves no half tree.
    staging = args.out.with_name(args.out.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    stats = generate(staging, args.seed)
    shutil.rmtree(args.out, ignore_errors=True)
    os.replace(staging, args.out)
    total = stats["text bytes"] + stats["wheel bytes"] + stats["image bytes"]
    print(
        f"generated {args.out}: {total / MIB:.1f} MiB; "
        f"{stats['text files']} text files ({stats['text bytes'] / MIB:.1f} MiB), "
        f"{stats['wheels']} wheels ({stats['wheel bytes'] / MIB:.1f} MiB), "
        f"{stats['images']} images ({stats['image bytes'] / MIB:.1f} MiB)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
