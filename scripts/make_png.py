#!/usr/bin/env python3
"""Write small, deterministic PNG files with nothing but the standard library.

Used for committed fixtures (the example app's icon, test-vector icons) and the
benchmark tree, so every image in the repository can be regenerated bit for bit.

    python3 scripts/make_png.py icon OUT.png [SIZE]     # the q8s "hello" icon
    python3 scripts/make_png.py solid OUT.png W H RRGGBB
"""

from __future__ import annotations

import math
import struct
import sys
import zlib
from collections.abc import Callable

Pixel = tuple[int, int, int, int]


def chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, type, data, CRC of type + data."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def encode_rgba(width: int, height: int, pixel: Callable[[int, int], Pixel]) -> bytes:
    """An 8-bit RGBA PNG whose pixel (x, y) is `pixel(x, y)`."""
    rows = bytearray()
    for y in range(height):
        rows.append(0)  # filter type: none
        for x in range(width):
            rows.extend(pixel(x, y))
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(rows), 9))
        + chunk(b"IEND", b"")
    )


def solid(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A single-colour opaque image."""
    return encode_rgba(width, height, lambda _x, _y: (*rgb, 255))


def hello_icon(size: int = 64) -> bytes:
    """A rounded square in a yellow-to-orange gradient crossed by a white wave."""
    radius = size * 0.22
    top, bottom = (254, 201, 37), (245, 124, 31)

    def pixel(x: int, y: int) -> Pixel:
        cx, cy = x + 0.5, y + 0.5
        # Distance outside the rounded rectangle (negative inside), for anti-aliasing.
        dx = max(radius - cx, cx - (size - radius), 0.0)
        dy = max(radius - cy, cy - (size - radius), 0.0)
        outside = math.hypot(dx, dy) - radius if dx and dy else -1.0
        alpha = max(0.0, min(1.0, 0.5 - outside))
        if alpha == 0.0:
            return (0, 0, 0, 0)
        t = cy / size
        r, g, b = (round(a + (c - a) * t) for a, c in zip(top, bottom))
        wave = size * (0.5 + 0.12 * math.sin(cx / size * 2 * math.pi))
        ink = max(0.0, min(1.0, size * 0.07 - abs(cy - wave)))
        r, g, b = (round(v + (255 - v) * ink) for v in (r, g, b))
        return (r, g, b, round(255 * alpha))

    return encode_rgba(size, size, pixel)


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "icon":
        size = int(argv[2]) if len(argv) > 2 else 64
        data = hello_icon(size)
    elif len(argv) == 5 and argv[0] == "solid":
        rgb = bytes.fromhex(argv[4])
        data = solid(int(argv[2]), int(argv[3]), (rgb[0], rgb[1], rgb[2]))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1], "wb") as out:
        out.write(data)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
