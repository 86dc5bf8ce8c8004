"""NIP-98 HTTP auth, without I/O: check one ``Authorization: Nostr <base64 event>`` header.

The checks, in the order NIP-98 lists them, after the event itself is proven genuine (its
id is the NIP-01 hash of its fields and its BIP-340 signature by ``pubkey`` holds):

1. ``kind`` is 27235;
2. ``created_at`` is within ``window_s`` of now (60 s, the NIP's suggestion);
3. the ``u`` tag is exactly the absolute URL of the request, query included;
4. the ``method`` tag is the request's method;

and, when the event has a ``payload`` tag, it is the SHA-256 of the request body. Every
failure raises :class:`~bot.errors.AuthRefused` (401) with a reason that holds nothing
secret. Single use (a replayed header) is the caller's check: see ``auth.Gate``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from coincurve import PublicKeyXOnly

from bot.errors import AuthRefused

__all__ = ["KIND_HTTP_AUTH", "SignedAuth", "event_id", "parse_event", "verify_event"]

KIND_HTTP_AUTH = 27235
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_HEX128 = re.compile(r"^[0-9a-f]{128}$")
MAX_EVENT_CHARS = 8192  # an auth event is a few hundred bytes


@dataclass(frozen=True)
class SignedAuth:
    """A verified NIP-98 event: who signed it, and its id (for single use)."""

    pubkey: str
    event_id: str
    created_at: int


def event_id(event: dict[str, Any]) -> str:
    """The NIP-01 id: SHA-256 of ``[0, pubkey, created_at, kind, tags, content]``."""
    serial = json.dumps(
        [0, event["pubkey"], event["created_at"], event["kind"], event["tags"], event["content"]],
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(serial.encode("utf-8")).hexdigest()


def parse_event(header_or_event: str) -> dict[str, Any]:
    """The event in an ``Authorization`` value (``Nostr <base64>``), in bare base64, or as
    the JSON text itself (what the no-JavaScript log-in form accepts)."""
    text = header_or_event.strip()
    if len(text) > MAX_EVENT_CHARS * 2:
        raise AuthRefused("authorization too long")
    scheme, _, rest = text.partition(" ")
    if scheme.lower() == "nostr":
        text = rest.strip()
    if not text.startswith("{"):
        try:
            padded = text + "=" * (-len(text) % 4)
            raw = base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
            text = raw.decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise AuthRefused("authorization is not base64 of a nostr event") from None
    try:
        event = json.loads(text)
    except ValueError:
        raise AuthRefused("authorization is not a JSON nostr event") from None
    if not isinstance(event, dict):
        raise AuthRefused("authorization is not a JSON nostr event")
    return _well_formed(event)


def _well_formed(event: dict[str, Any]) -> dict[str, Any]:
    for name, kind in (("id", str), ("pubkey", str), ("sig", str), ("content", str)):
        if not isinstance(event.get(name), kind):
            raise AuthRefused(f"event field {name!r} missing or not a string")
    for name in ("created_at", "kind"):
        value = event.get(name)
        if isinstance(value, bool) or not isinstance(value, int):
            raise AuthRefused(f"event field {name!r} missing or not an integer")
    tags = event.get("tags")
    if not isinstance(tags, list) or not all(
        isinstance(t, list) and all(isinstance(x, str) for x in t) for t in tags
    ):
        raise AuthRefused("event tags must be a list of lists of strings")
    if not _HEX64.match(event["pubkey"]) or not _HEX64.match(event["id"]):
        raise AuthRefused("event id and pubkey must be 64 lowercase hex characters")
    if not _HEX128.match(event["sig"]):
        raise AuthRefused("event sig must be 128 lowercase hex characters")
    return event


def _tag(event: dict[str, Any], name: str) -> str | None:
    return next((t[1] for t in event["tags"] if len(t) >= 2 and t[0] == name), None)


def verify_event(
    event: dict[str, Any],
    *,
    method: str,
    url: str,
    body: bytes,
    now: float,
    window_s: float = 60.0,
) -> SignedAuth:
    """Check a parsed event against the request; raise AuthRefused on the first failure."""
    if event_id(event) != event["id"]:
        raise AuthRefused("event id does not match its content")
    try:
        key = PublicKeyXOnly(bytes.fromhex(event["pubkey"]))
        genuine = key.verify(bytes.fromhex(event["sig"]), bytes.fromhex(event["id"]))
    except ValueError:
        genuine = False
    if not genuine:
        raise AuthRefused("event signature is not valid")
    if event["kind"] != KIND_HTTP_AUTH:
        raise AuthRefused(f"event kind must be {KIND_HTTP_AUTH}, got {event['kind']}")
    if abs(now - event["created_at"]) > window_s:
        raise AuthRefused(f"event created_at is more than {window_s:g} s from now")
    if _tag(event, "u") != url:
        raise AuthRefused(f"event u tag must be {url}")
    if (_tag(event, "method") or "").upper() != method.upper():
        raise AuthRefused(f"event method tag must be {method.upper()}")
    payload = _tag(event, "payload")
    if payload is not None and payload.lower() != hashlib.sha256(body).hexdigest():
        raise AuthRefused("event payload tag is not the SHA-256 of the request body")
    return SignedAuth(event["pubkey"], event["id"], event["created_at"])
