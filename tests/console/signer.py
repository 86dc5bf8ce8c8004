"""A NIP-98 signer for tests: what an operator's nostr client does, with coincurve (BIP-340)."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from typing import Any

from coincurve import PrivateKey, PublicKeyXOnly

from bot.console.nip98 import event_id

__all__ = ["Signer"]


class Signer:
    def __init__(self, secret: bytes | None = None) -> None:
        self.secret = secret or secrets.token_bytes(32)
        self.pubkey = PublicKeyXOnly.from_secret(self.secret).format().hex()

    def sign(self, unsigned: dict[str, Any]) -> dict[str, Any]:
        """Sign a NIP-07 style template (kind, created_at, tags, content)."""
        event = {
            "pubkey": self.pubkey,
            "created_at": unsigned["created_at"],
            "kind": unsigned["kind"],
            "tags": unsigned["tags"],
            "content": unsigned["content"],
        }
        event["id"] = event_id(event)
        event["sig"] = PrivateKey(self.secret).sign_schnorr(bytes.fromhex(event["id"])).hex()
        return event

    def auth_event(
        self,
        url: str,
        method: str = "GET",
        *,
        body: bytes | None = None,
        created_at: int | None = None,
        kind: int = 27235,
    ) -> dict[str, Any]:
        tags = [["u", url], ["method", method]]
        if body is not None:
            tags.append(["payload", hashlib.sha256(body).hexdigest()])
        when = int(time.time()) if created_at is None else created_at
        return self.sign({"kind": kind, "created_at": when, "tags": tags, "content": ""})

    def header(self, url: str, method: str = "GET", **options: Any) -> str:
        return encode(self.auth_event(url, method, **options))


def encode(event: dict[str, Any]) -> str:
    return "Nostr " + base64.b64encode(json.dumps(event).encode()).decode()
