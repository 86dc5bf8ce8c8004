"""The small PNG that LNURL-pay metadata carries (LUD-06 ``image/png;base64``), drawn here.

Wallets show it beside the charger's name when paying. The operator's ``picture`` is a URL
and metadata needs the bytes themselves, which the bot will not fetch from anywhere: so
every charger gets the same drawn icon, a white bolt on an amber disc, built once at start.
"""

from __future__ import annotations

import base64
import functools
import struct
import zlib

__all__ = ["charger_icon_base64", "png_rgba"]

SIZE = 64
_AMBER = (247, 147, 26, 255)
_WHITE = (255, 255, 255, 255)
_CLEAR = (0, 0, 0, 0)
# The bolt, in units of the icon's size (x right, y down).
_BOLT = ((0.56, 0.12), (0.28, 0.56), (0.48, 0.56), (0.40, 0.88), (0.72, 0.42), (0.52, 0.42))


def png_rgba(width: int, height: int, pixels: list[tuple[int, int, int, int]]) -> bytes:
    """A PNG file of 8-bit RGBA ``pixels`` (row by row)."""
    rows = b"".join(
        b"\x00" + b"".join(bytes(p) for p in pixels[y * width : (y + 1) * width])
        for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(rows, 9))
        + _chunk(b"IEND", b"")
    )


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _inside(x: float, y: float, polygon: tuple[tuple[float, float], ...]) -> bool:
    """Even-odd rule: a ray to the right crosses the edges an odd number of times."""
    inside = False
    for (x1, y1), (x2, y2) in zip(polygon, polygon[1:] + polygon[:1], strict=True):
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside


@functools.cache
def charger_icon_base64() -> str:
    pixels = []
    for row in range(SIZE):
        for column in range(SIZE):
            x, y = (column + 0.5) / SIZE, (row + 0.5) / SIZE
            if _inside(x, y, _BOLT):
                pixels.append(_WHITE)
            elif (x - 0.5) ** 2 + (y - 0.5) ** 2 <= 0.25:
                pixels.append(_AMBER)
            else:
                pixels.append(_CLEAR)
    return base64.b64encode(png_rgba(SIZE, SIZE, pixels)).decode("ascii")
