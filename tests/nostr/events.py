"""Nostr events signed and checked with coincurve alone, independent of nostr_sdk.

Tests sign zap requests and receipts here so that what the codec accepts is not merely
what nostr_sdk produces, and check our signatures with a second BIP-340 implementation.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from coincurve import PrivateKey, PublicKeyXOnly

from bot.config.keys import ChargerKeys

__all__ = ["TestKey", "compute_id", "schnorr_valid"]


def compute_id(event: dict[str, Any]) -> str:
    """NIP-01: sha256 of [0, pubkey, created_at, kind, tags, content], compact UTF-8 JSON."""
    fields = [0, event["pubkey"], event["created_at"], event["kind"], event["tags"]]
    serial = json.dumps([*fields, event["content"]], separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(serial.encode("utf-8")).hexdigest()


def schnorr_valid(event: dict[str, Any]) -> bool:
    key = PublicKeyXOnly(bytes.fromhex(event["pubkey"]))
    return bool(key.verify(bytes.fromhex(event["sig"]), bytes.fromhex(event["id"])))


class TestKey:
    """A keypair from a fixed secret, usable both here and as our ChargerKeys."""

    __test__ = False  # not a pytest test class

    def __init__(self, secret_hex: str) -> None:
        self._private = PrivateKey(bytes.fromhex(secret_hex))
        self.secret_hex = secret_hex
        self.pubkey = self._private.public_key_xonly.format().hex()
        self.keys = ChargerKeys.from_secret(bytes.fromhex(secret_hex))

    def event(
        self,
        *,
        kind: int,
        tags: list[list[str]],
        content: str = "",
        created_at: int,
    ) -> dict[str, Any]:
        event: dict[str, Any] = {
            "pubkey": self.pubkey,
            "created_at": created_at,
            "kind": kind,
            "tags": tags,
            "content": content,
        }
        event["id"] = compute_id(event)
        event["sig"] = self._private.sign_schnorr(bytes.fromhex(event["id"])).hex()
        return event

    def event_json(self, **fields: Any) -> str:
        return json.dumps(self.event(**fields), ensure_ascii=False)
