"""Our own events signed in Python: the NIP-01 id with hashlib, BIP-340 with coincurve.

nostr-sdk's ``EventBuilder`` costs a Python-Rust crossing per tag and per call; a status
event has some twenty tags, and a fleet of 10,000 chargers signs 20,000 of them after a
start or a reconnect storm. Measured here: ~3.6 ms an event through the SDK, ~0.6 ms here.

The id is the SHA-256 of ``[0, pubkey, created_at, kind, tags, content]`` serialised as
NIP-01 says: UTF-8, no whitespace, and only ``\\n \\" \\\\ \\r \\t \\b \\f`` escaped. Python's
``json.dumps(..., ensure_ascii=False)`` writes exactly that unless a string holds another
control character (it would write ``\\u00XX``); such rare events go through the SDK.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
from collections.abc import Mapping, Sequence
from typing import Any

import coincurve

from bot.config.keys import ChargerKeys

__all__ = ["event_digest", "needs_sdk", "sign_own", "verify_own"]

_OTHER_CONTROL = re.compile(r"[\x00-\x07\x0b\x0e-\x1f]")


@functools.cache
def _private_key(keys: ChargerKeys) -> coincurve.PrivateKey:
    """Made once per charger: its signer is used for every status event."""
    return coincurve.PrivateKey(keys.secret)


def needs_sdk(content: str, tags: Sequence[Sequence[str]]) -> bool:
    """True if NIP-01 and ``json.dumps`` would escape a string of this event differently."""
    return bool(_OTHER_CONTROL.search(content)) or any(
        _OTHER_CONTROL.search(value) for tag in tags for value in tag
    )


def event_digest(
    pubkey: str, created_at: int, kind: int, tags: Sequence[Sequence[str]], content: str
) -> bytes:
    """The NIP-01 id as bytes. Call :func:`needs_sdk` first."""
    serialised = json.dumps(
        [0, pubkey, created_at, kind, [list(tag) for tag in tags], content],
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(serialised.encode()).digest()


def verify_own(event: Mapping[str, Any]) -> bool:
    """True when the event's ``id`` is its NIP-01 id and ``sig`` its BIP-340 signature by
    ``pubkey``. The fields must have their NIP-01 types (the caller checks) and
    :func:`needs_sdk` must be false; bad hex is simply False."""
    digest = event_digest(
        event["pubkey"], event["created_at"], event["kind"], event["tags"], event["content"]
    )
    if digest.hex() != event["id"].lower():
        return False
    try:
        key = coincurve.PublicKeyXOnly(bytes.fromhex(event["pubkey"]))
        return bool(key.verify(bytes.fromhex(event["sig"]), digest))
    except ValueError:  # not hex, not a point on the curve, not 64 bytes
        return False


def sign_own(
    keys: ChargerKeys,
    kind: int,
    content: str,
    tags: Sequence[Sequence[str]],
    created_at: int,
) -> tuple[str, str]:
    """(event id hex, NIP-01 JSON) of the signed event. Call :func:`needs_sdk` first."""
    pubkey, private = keys.public_key_hex, _private_key(keys)
    tag_lists = [list(tag) for tag in tags]
    digest = event_digest(pubkey, created_at, kind, tag_lists, content)
    signature = private.sign_schnorr(digest, os.urandom(32))
    event = {
        "id": digest.hex(),
        "pubkey": pubkey,
        "created_at": created_at,
        "kind": kind,
        "tags": tag_lists,
        "content": content,
        "sig": signature.hex(),
    }
    return digest.hex(), json.dumps(event, separators=(",", ":"), ensure_ascii=False)
