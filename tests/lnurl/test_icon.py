from __future__ import annotations

import base64
import struct
import zlib

from bot.lnurl.icon import SIZE, charger_icon_base64, png_rgba
from bot.lnurl.protocol import MAX_IMAGE_CHARS


def chunks(png: bytes) -> dict[bytes, bytes]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    found, at = {}, 8
    while at < len(png):
        (length,) = struct.unpack(">I", png[at : at + 4])
        kind, data = png[at + 4 : at + 8], png[at + 8 : at + 8 + length]
        (crc,) = struct.unpack(">I", png[at + 8 + length : at + 12 + length])
        assert crc == zlib.crc32(kind + data)
        found[kind] = data
        at += 12 + length
    return found


def test_a_tiny_png_is_well_formed() -> None:
    png = png_rgba(2, 1, [(255, 0, 0, 255), (0, 0, 255, 128)])
    parts = chunks(png)
    assert struct.unpack(">IIBBBBB", parts[b"IHDR"]) == (2, 1, 8, 6, 0, 0, 0)
    assert zlib.decompress(parts[b"IDAT"]) == b"\x00\xff\x00\x00\xff\x00\x00\xff\x80"
    assert parts[b"IEND"] == b""


def test_the_charger_icon_is_a_small_png_with_a_bolt() -> None:
    text = charger_icon_base64()
    assert len(text) < MAX_IMAGE_CHARS
    rows = zlib.decompress(chunks(base64.b64decode(text))[b"IDAT"])
    assert len(rows) == SIZE * (1 + 4 * SIZE)
    stride = 1 + 4 * SIZE

    def pixel(x: int, y: int) -> bytes:
        return rows[y * stride + 1 + 4 * x :][:4]

    assert pixel(0, 0) == b"\x00\x00\x00\x00"  # outside the disc: transparent
    assert pixel(SIZE // 2, 4) == b"\xf7\x93\x1a\xff"  # the disc
    assert pixel(SIZE // 2, SIZE // 2) == b"\xff\xff\xff\xff"  # the bolt
