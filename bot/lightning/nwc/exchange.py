"""The client's side of NIP-47 as plain data: request events out, answers and notices in.

No relay and no task here (the pump is :mod:`bot.lightning.nwc.client`): :class:`Exchange`
signs and encrypts each request, remembers it until it is answered or given up, and sorts
every event the wallet's relays deliver into a response for an open request, a new
notification, or something to drop, with the reason.

What is checked, and why:

- Only events signed by the wallet service's key count: the relay is anybody's, and a
  forged "settled" would hand out free electricity. The signature is checked here again
  (a relay or an SDK option that skips it must not make us trust a stranger).
- A response is matched by its ``e`` tag to a request still open; late or repeated
  answers (several relays, a retrying wallet) are dropped, the first one wins.
- A response is decrypted with the scheme of the request it answers (NIP-47: "encrypted
  using the scheme requested by the client"); a notification with the scheme its kind
  names (23197 NIP-44, 23196 NIP-04).
- Notifications are de-duplicated by event id (the same one arrives from each relay, and
  wallets re-send); the memory of ids is bounded.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bot.errors import NwcProtocolError
from bot.lightning.nwc.protocol import (
    NOTIFICATION_KIND_NIP04,
    NOTIFICATION_KIND_NIP44,
    REQUEST_KIND,
    RESPONSE_KIND,
    Encryption,
    Notification,
    Request,
    Response,
    decode_notification,
    decode_response,
    encode_request,
)
from bot.nostr.primitives import decrypt, encrypt, public_key_hex, sign_event, verify_event

__all__ = ["Answer", "Dropped", "Exchange", "Incoming", "Notice"]

_NOTIFICATION_ENCRYPTION = {
    NOTIFICATION_KIND_NIP44: Encryption.NIP44_V2,
    NOTIFICATION_KIND_NIP04: Encryption.NIP04,
}


@dataclass(frozen=True)
class Answer:
    """The wallet's response to the open request ``request_id``."""

    request_id: str
    response: Response


@dataclass(frozen=True)
class Notice:
    """A notification seen for the first time."""

    event_id: str
    notification: Notification


@dataclass(frozen=True)
class Dropped:
    """An event that means nothing to us; ``reason`` is for the debug log."""

    reason: str


Incoming = Answer | Notice | Dropped


class Exchange:
    """One NWC connection's requests and what comes back (see the module docstring)."""

    def __init__(
        self,
        secret_hex: str,
        wallet_pubkey: str,
        *,
        encryption: Encryption = Encryption.NIP44_V2,
        clock: Callable[[], float] = time.time,
        remember_notifications: int = 10_000,
    ) -> None:
        self._secret = secret_hex
        self.wallet_pubkey = wallet_pubkey
        self.client_pubkey = public_key_hex(secret_hex)
        self.encryption = encryption
        self._clock = clock
        self._open: dict[str, Encryption] = {}  # request id -> the scheme it was sent with
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._remember = remember_notifications

    def request_event(self, request: Request, *, expires_in_s: float) -> dict[str, Any]:
        """The signed kind 23194 event for ``request``; it stays open until answered/closed.

        The ``expiration`` tag tells the wallet to ignore it once we have given up waiting:
        a request that a slow relay delivers minutes later must not pay then."""
        now = int(self._clock())
        tags = [["p", self.wallet_pubkey], ["expiration", str(now + max(1, round(expires_in_s)))]]
        if self.encryption is Encryption.NIP44_V2:
            tags.append(["encryption", Encryption.NIP44_V2.value])
        # No encryption tag means NIP-04 to every wallet, old ones included (NIP-47).
        content = encrypt(
            self.encryption, self._secret, self.wallet_pubkey, encode_request(request)
        )
        event = sign_event(self._secret, REQUEST_KIND, content, tags, created_at=now)
        self._open[event["id"]] = self.encryption
        return event

    def close(self, request_id: str) -> None:
        """Stop waiting for ``request_id``: a later answer is dropped."""
        self._open.pop(request_id, None)

    @property
    def open_requests(self) -> int:
        return len(self._open)

    def receive(self, event: Mapping[str, Any]) -> Incoming:
        """Sort one event from the wallet's relays; NwcProtocolError when it is garbage."""
        if event.get("pubkey") != self.wallet_pubkey:
            return Dropped("not from the wallet service")
        if not _addressed_to(event, self.client_pubkey):
            return Dropped("not addressed to us")
        kind = event.get("kind")
        if kind == RESPONSE_KIND:
            return self._response(event)
        encryption = _NOTIFICATION_ENCRYPTION.get(kind) if isinstance(kind, int) else None
        if encryption is not None:
            return self._notification(event, encryption)
        return Dropped(f"kind {kind} is not a response or notification")

    def _response(self, event: Mapping[str, Any]) -> Incoming:
        request_id = _tag(event, "e")
        if request_id is None:
            return Dropped("response without an e tag")
        encryption = self._open.get(request_id)
        if encryption is None:
            return Dropped("response to no open request (late, repeated or not ours)")
        _check_signature(event)
        text = decrypt(encryption, self._secret, self.wallet_pubkey, str(event["content"]))
        response = decode_response(text)
        del self._open[request_id]
        return Answer(request_id, response)

    def _notification(self, event: Mapping[str, Any], encryption: Encryption) -> Incoming:
        event_id = str(event.get("id"))
        if event_id in self._seen:
            return Dropped("notification seen already")
        _check_signature(event)
        text = decrypt(encryption, self._secret, self.wallet_pubkey, str(event["content"]))
        notification = decode_notification(text)
        self._seen[event_id] = None
        while len(self._seen) > self._remember:
            self._seen.popitem(last=False)
        return Notice(event_id, notification)


def _check_signature(event: Mapping[str, Any]) -> None:
    if not verify_event(event):
        raise NwcProtocolError("event signature or id is not valid")


def _tag(event: Mapping[str, Any], name: str) -> str | None:
    for tag in event.get("tags") or ():
        if isinstance(tag, list) and len(tag) >= 2 and tag[0] == name and isinstance(tag[1], str):
            return tag[1]
    return None


def _addressed_to(event: Mapping[str, Any], pubkey: str) -> bool:
    tags = event.get("tags") or ()
    return any(isinstance(t, list) and t[:2] == ["p", pubkey] for t in tags)
