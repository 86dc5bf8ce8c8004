"""The nostr primitives of Nostr Wallet Connect, as plain data: keys, events, encryption.

The one seam through which ``bot.lightning.nwc`` (an adapter of its own) touches the nostr
layer: hex strings and NIP-01 event dicts in and out, no SDK objects. Signing and
verifying run in Python (:mod:`bot.nostr.signing`, hashlib and coincurve, several times
faster than a Python-Rust crossing per event); NIP-44 v2 and NIP-04 go through nostr-sdk.
The rare event with a control character whose NIP-01 escaping differs from ``json.dumps``
is signed and verified by the SDK instead.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

import nostr_sdk

from bot.config.keys import ChargerKeys
from bot.errors import NwcProtocolError
from bot.lightning.nwc.protocol import Encryption
from bot.nostr.events import sign_event_with_id
from bot.nostr.signing import needs_sdk, verify_own

__all__ = [
    "decrypt",
    "encrypt",
    "generate_secret_hex",
    "public_key_hex",
    "sign_event",
    "verify_event",
]

_EVENT_FIELDS = {
    "id": str,
    "pubkey": str,
    "created_at": int,
    "kind": int,
    "tags": list,
    "content": str,
    "sig": str,
}


@functools.lru_cache(maxsize=256)
def _keys(secret_hex: str) -> ChargerKeys:
    try:
        return ChargerKeys.from_secret(bytes.fromhex(secret_hex))
    except ValueError:
        raise NwcProtocolError("not a secret key (32 bytes of hex)") from None


@functools.lru_cache(maxsize=256)
def _sdk_secret(secret_hex: str) -> Any:
    return nostr_sdk.SecretKey.from_bytes(_keys(secret_hex).secret)


@functools.lru_cache(maxsize=1024)
def _sdk_public(pubkey_hex: str) -> Any:
    try:
        return nostr_sdk.PublicKey.parse(pubkey_hex)
    except Exception:  # NostrSdkError: not hex, not a point on the curve
        raise NwcProtocolError("not a public key (32 bytes of hex)") from None


def generate_secret_hex() -> str:
    """A fresh random secret key."""
    return nostr_sdk.Keys.generate().secret_key().to_hex()  # type: ignore[no-any-return]


def public_key_hex(secret_hex: str) -> str:
    """The x-only public key of a hex secret key; NwcProtocolError when it is none."""
    return _keys(secret_hex).public_key_hex


def sign_event(
    secret_hex: str,
    kind: int,
    content: str,
    tags: Sequence[Sequence[str]],
    created_at: int | None = None,
) -> dict[str, Any]:
    """The signed NIP-01 event object (``id``, ``pubkey``, ``sig``...)."""
    when = int(time.time()) if created_at is None else created_at
    _, text = sign_event_with_id(_keys(secret_hex), kind, content, tags, when)
    event: dict[str, Any] = json.loads(text)
    return event


def verify_event(event: Mapping[str, Any]) -> bool:
    """True when the object is a NIP-01 event whose id and BIP-340 signature are right."""
    for name, kind in _EVENT_FIELDS.items():
        value = event.get(name)
        if not isinstance(value, kind) or isinstance(value, bool):
            return False
    tags = event["tags"]
    if not all(isinstance(t, list) and all(isinstance(v, str) for v in t) for t in tags):
        return False
    if needs_sdk(event["content"], tags):
        try:
            return bool(nostr_sdk.Event.from_json(json.dumps(dict(event))).verify())
        except Exception:  # NostrSdkError: a field the SDK cannot parse
            return False
    return verify_own(event)


def encrypt(encryption: Encryption, secret_hex: str, peer_pubkey_hex: str, plaintext: str) -> str:
    """Encrypt from ``secret_hex`` to ``peer_pubkey_hex`` with NIP-44 v2 or NIP-04."""
    secret, peer = _sdk_secret(secret_hex), _sdk_public(peer_pubkey_hex)
    if encryption is Encryption.NIP44_V2:
        return str(nostr_sdk.nip44_encrypt(secret, peer, plaintext, nostr_sdk.Nip44Version.V2))
    return str(nostr_sdk.nip04_encrypt(secret, peer, plaintext))


def decrypt(encryption: Encryption, secret_hex: str, peer_pubkey_hex: str, ciphertext: str) -> str:
    """Decrypt what ``peer_pubkey_hex`` sent to ``secret_hex``; NwcProtocolError on failure."""
    secret, peer = _sdk_secret(secret_hex), _sdk_public(peer_pubkey_hex)
    try:
        if encryption is Encryption.NIP44_V2:
            return str(nostr_sdk.nip44_decrypt(secret, peer, ciphertext))
        return str(nostr_sdk.nip04_decrypt(secret, peer, ciphertext))
    except Exception as exc:  # NostrSdkError: bad base64, version, MAC, padding, wrong key
        raise NwcProtocolError(f"cannot decrypt ({encryption.value})") from exc
