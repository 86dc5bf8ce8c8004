"""The official NIP-44 test vectors, and payloads damaged on purpose: shared by the tests
of our NIP-44 code and of the SDK's."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

__all__ = ["VECTORS", "damaged"]

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).parent / "data" / "nip44_vectors.json").read_text(encoding="utf-8")
)


def damaged(payload: str, how: str) -> str:
    """``payload`` with its version byte, MAC, ciphertext or base64 broken."""
    data = bytearray(base64.b64decode(payload))
    if how == "version":
        data[0] = 1
    elif how == "mac":
        data[-1] ^= 1
    elif how == "ciphertext":
        data[40] ^= 1
    elif how == "base64":
        return "#" + payload[1:]
    return base64.b64encode(bytes(data)).decode()
