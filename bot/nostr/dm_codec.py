"""Direct message codecs: NIP-17 private messages and legacy NIP-04, both ways.

Sending, NIP-17: a kind 14 rumor (unsigned) sealed in a kind 13 signed by the charger and
NIP-44 v2 encrypted to the driver, wrapped in a kind 1059 signed by a one-time key; seal
and wrap are backdated up to two days (NIP-59). Receiving unwraps by hand so that every
check is visible here: the wrap decrypts with our key, the seal is a validly signed kind
13, and the seal's pubkey equals the rumor's (otherwise anyone could speak as anyone).
Everything that fails raises :class:`DmRejected`; the caller logs and drops it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

import nostr_sdk

from bot.config.keys import ChargerKeys
from bot.errors import NostrError
from bot.nostr.events import sign_event
from bot.nostr.keys import sdk_keys

__all__ = [
    "COMMANDS",
    "KIND_CHAT",
    "KIND_GIFT_WRAP",
    "KIND_NIP04",
    "KIND_SEAL",
    "DmRejected",
    "IncomingDm",
    "gift_wrap",
    "nip04_message",
    "open_gift_wrap",
    "open_nip04",
    "parse_command",
    "recipient_of",
]

KIND_NIP04 = 4
KIND_SEAL = 13
KIND_CHAT = 14
KIND_GIFT_WRAP = 1059
COMMANDS = ("status", "stop", "help", "notify", "notify off", "cancel")
_OFF_WORDS = ("off", "stop", "cancel", "no")


class DmRejected(NostrError):
    """An incoming DM that is malformed, not for us, undecryptable or forged."""


@dataclass(frozen=True)
class IncomingDm:
    event_id: str  # the event that arrived: the gift wrap, or the kind 4
    message_id: str  # the rumor's id (NIP-17) or the kind 4's id
    sender: str  # verified: the seal's signer (NIP-17) or the kind 4's signer
    recipient: str
    text: str
    created_at: int  # the rumor's own time; seal and wrap times are random
    protocol: Literal["nip17", "nip04"]


def gift_wrap(sender: ChargerKeys, recipient: str, text: str) -> str:
    """A NIP-17 kind 1059 gift wrap of a kind 14 ``text`` for ``recipient`` (hex)."""
    receiver = nostr_sdk.PublicKey.parse(recipient)
    return str(nostr_sdk.nip17_make_private_msg(sdk_keys(sender), receiver, text).as_json())


def nip04_message(sender: ChargerKeys, recipient: str, text: str, created_at: int) -> str:
    """A legacy NIP-04 kind 4 DM (only sent when ``[dm] nip04_fallback`` is on)."""
    receiver = nostr_sdk.PublicKey.parse(recipient)
    content = nostr_sdk.nip04_encrypt(sdk_keys(sender).secret_key(), receiver, text)
    return sign_event(sender, KIND_NIP04, content, [["p", recipient]], created_at)


def recipient_of(event: Any) -> str | None:
    """The first ``p`` tag of a ``nostr_sdk.Event``: which charger it is addressed to."""
    for tag in event.tags():
        values = tag.to_vec()
        if len(values) >= 2 and values[0] == "p":
            return str(values[1])
    return None


def open_gift_wrap(receiver: ChargerKeys, wrap: Any) -> IncomingDm:
    """Unwrap a kind 1059 for ``receiver``; raise DmRejected unless it is genuine."""
    if wrap.kind().as_u16() != KIND_GIFT_WRAP:
        raise DmRejected("not a gift wrap")
    secret = sdk_keys(receiver).secret_key()
    seal = _parse_event(_decrypt(secret, wrap.author(), wrap.content()), "seal")
    if seal.kind().as_u16() != KIND_SEAL or not seal.verify():
        raise DmRejected("seal is not a validly signed kind 13")
    rumor = _parse_rumor(_decrypt(secret, seal.author(), seal.content()))
    sender = seal.author().to_hex()
    if rumor["pubkey"] != sender:
        raise DmRejected("forged: the seal's signer is not the rumor's author")
    if rumor["kind"] != KIND_CHAT:
        raise DmRejected(f"rumor kind {rumor['kind']} is not a chat message")
    if not any(t[:2] == ["p", receiver.public_key_hex] for t in rumor["tags"]):
        raise DmRejected("rumor is not addressed to this charger")
    return IncomingDm(
        event_id=wrap.id().to_hex(),
        message_id=_rumor_id(rumor),
        sender=sender,
        recipient=receiver.public_key_hex,
        text=rumor["content"],
        created_at=rumor["created_at"],
        protocol="nip17",
    )


def open_nip04(receiver: ChargerKeys, event: Any) -> IncomingDm:
    """Decrypt a kind 4 addressed to ``receiver``; raise DmRejected otherwise."""
    if event.kind().as_u16() != KIND_NIP04 or not event.verify():
        raise DmRejected("not a validly signed kind 4")
    if recipient_of(event) != receiver.public_key_hex:
        raise DmRejected("kind 4 is not addressed to this charger")
    try:
        text = nostr_sdk.nip04_decrypt(
            sdk_keys(receiver).secret_key(), event.author(), event.content()
        )
    except Exception as exc:  # NostrSdkError: bad base64, bad padding, wrong key
        raise DmRejected("undecryptable kind 4") from exc
    event_id = event.id().to_hex()
    return IncomingDm(
        event_id=event_id,
        message_id=event_id,
        sender=event.author().to_hex(),
        recipient=receiver.public_key_hex,
        text=str(text),
        created_at=event.created_at().as_secs(),
        protocol="nip04",
    )


def parse_command(text: str) -> str:
    """One of :data:`COMMANDS`: the first word, in any case and punctuation; ``notify``
    followed by ``off`` (or ``stop``, ``cancel``, ``no``) is ``notify off``."""
    words = [w.strip("/!?.,:;") for w in text.strip().lower().split()]
    word = words[0] if words else ""
    if word == "notify" and len(words) > 1 and words[1] in _OFF_WORDS:
        return "notify off"
    return word if word in COMMANDS else "help"


def _decrypt(secret: Any, sender: Any, payload: str) -> str:
    try:
        return str(nostr_sdk.nip44_decrypt(secret, sender, payload))
    except Exception as exc:  # NostrSdkError: bad version, MAC, padding, base64
        raise DmRejected("undecryptable (NIP-44)") from exc


def _parse_event(text: str, what: str) -> Any:
    try:
        return nostr_sdk.Event.from_json(text)
    except Exception as exc:  # NostrSdkError: missing fields, bad hex
        raise DmRejected(f"{what} is not an event") from exc


def _parse_rumor(text: str) -> dict[str, Any]:
    try:
        rumor = json.loads(text)
        ok = (
            isinstance(rumor, dict)
            and isinstance(rumor.get("pubkey"), str)
            and isinstance(rumor.get("created_at"), int)
            and isinstance(rumor.get("kind"), int)
            and isinstance(rumor.get("content"), str)
            and isinstance(rumor.get("tags"), list)
            and all(
                isinstance(t, list) and all(isinstance(v, str) for v in t) for t in rumor["tags"]
            )
        )
    except ValueError:
        ok = False
    if not ok:
        raise DmRejected("rumor is not an unsigned event")
    return dict(rumor)


def _rumor_id(rumor: dict[str, Any]) -> str:
    """NIP-01 id of the rumor; a rumor that states a different id is rejected."""
    try:
        computed = nostr_sdk.EventId.compute(
            nostr_sdk.PublicKey.parse(rumor["pubkey"]),
            nostr_sdk.Timestamp.from_secs(rumor["created_at"]),
            nostr_sdk.Kind(rumor["kind"]),
            [nostr_sdk.Tag.parse(t) for t in rumor["tags"]],
            rumor["content"],
        ).to_hex()
    except Exception as exc:  # NostrSdkError: bad pubkey, out-of-range kind, empty tag
        raise DmRejected("rumor fields are invalid") from exc
    if "id" in rumor and rumor["id"] != computed:
        raise DmRejected("rumor id does not match its content")
    return str(computed)
