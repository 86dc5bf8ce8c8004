"""NIP-47 as plain data: the info event, requests, responses, notifications, transactions.

No I/O and no nostr SDK: these functions turn the *decrypted* contents of NIP-47 events
(and the tags of the info event) into frozen values and back. Signing, encryption and
relays are elsewhere (``bot.nostr.primitives`` and the callers). Both sides use this one
codec: the bot's client and the simulated wallet service.

Whatever a wallet sends is refused with :class:`~bot.errors.NwcProtocolError` when it is not
JSON, has the wrong types or lacks a required field. Optional fields may be absent or
``null`` (wallets differ in which they write); unknown fields are ignored.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from bot.errors import NwcProtocolError

__all__ = [
    "INFO_KIND",
    "NOTIFICATION_KIND_NIP04",
    "NOTIFICATION_KIND_NIP44",
    "REQUEST_KIND",
    "RESPONSE_KIND",
    "TRANSACTION_STATES",
    "TRANSACTION_TYPES",
    "URI_SCHEME",
    "Encryption",
    "ErrorCode",
    "Notification",
    "Request",
    "Response",
    "Transaction",
    "WalletError",
    "WalletInfo",
    "choose_encryption",
    "decode_notification",
    "decode_request",
    "decode_response",
    "encode_notification",
    "encode_request",
    "encode_response",
    "encryption_of_request",
    "format_uri",
    "info_content",
    "info_tags",
    "parse_info",
    "parse_transaction",
    "transaction_json",
]

INFO_KIND = 13194
REQUEST_KIND = 23194
RESPONSE_KIND = 23195
NOTIFICATION_KIND_NIP04 = 23196
NOTIFICATION_KIND_NIP44 = 23197
URI_SCHEME = "nostr+walletconnect"

TRANSACTION_TYPES = frozenset({"incoming", "outgoing"})
# "accepted" is a held (hold-invoice) payment: NIP-47 lists it beside the four we use.
TRANSACTION_STATES = frozenset({"pending", "settled", "expired", "failed", "accepted"})

_HEX64 = re.compile(r"[0-9a-f]{64}")


class Encryption(enum.Enum):
    NIP44_V2 = "nip44_v2"
    NIP04 = "nip04"


@dataclass(frozen=True)
class WalletInfo:
    """What a wallet service says it can do (its kind 13194 event)."""

    methods: frozenset[str]
    notifications: frozenset[str]
    encryptions: tuple[Encryption, ...]


def parse_info(content: str, tags: Sequence[Sequence[str]]) -> WalletInfo:
    """Read an info event's content (space-separated methods) and its tags.

    No ``encryption`` tag means NIP-04 only (NIP-47's backwards compatibility rule);
    schemes we do not know are skipped, so a tag of only unknown ones offers none.
    """
    if not isinstance(content, str):
        raise NwcProtocolError("info event content is not a string")
    encryptions: tuple[Encryption, ...] = (Encryption.NIP04,)
    notifications: frozenset[str] = frozenset()
    for tag in tags:
        if not _is_string_list(tag):
            raise NwcProtocolError("info event has a tag that is not a list of strings")
        if len(tag) < 2:
            continue
        if tag[0] == "encryption":
            known = {e.value: e for e in Encryption}
            encryptions = tuple(known[word] for word in tag[1].split() if word in known)
        elif tag[0] == "notifications":
            notifications = frozenset(tag[1].split())
    return WalletInfo(frozenset(content.split()), notifications, encryptions)


def choose_encryption(info: WalletInfo) -> Encryption:
    """NIP-44 v2 when the wallet offers it, NIP-04 when that is all it offers."""
    for preferred in (Encryption.NIP44_V2, Encryption.NIP04):
        if preferred in info.encryptions:
            return preferred
    raise NwcProtocolError("the wallet offers neither nip44_v2 nor nip04 encryption")


def info_content(methods: Iterable[str]) -> str:
    return " ".join(methods)


def info_tags(encryptions: Iterable[Encryption], notifications: Iterable[str]) -> list[list[str]]:
    """The info event's tags; no ``notifications`` tag when there are none."""
    tags = [["encryption", " ".join(e.value for e in encryptions)]]
    names = " ".join(notifications)
    if names:
        tags.append(["notifications", names])
    return tags


def encryption_of_request(tags: Sequence[Sequence[str]]) -> Encryption | None:
    """The scheme a request event names in its ``encryption`` tag; no tag means NIP-04.

    ``None``: the tag names a scheme we do not know (answer ``UNSUPPORTED_ENCRYPTION``).
    """
    for tag in tags:
        if len(tag) >= 2 and tag[0] == "encryption":
            known = {e.value: e for e in Encryption}
            return known.get(tag[1].strip())
    return Encryption.NIP04


def format_uri(wallet_pubkey_hex: str, relays: Sequence[str], client_secret_hex: str) -> str:
    """``nostr+walletconnect://<wallet pubkey>?relay=<url-encoded>&secret=<hex>``."""
    query = "&".join(f"relay={quote(relay, safe='')}" for relay in relays)
    return f"{URI_SCHEME}://{wallet_pubkey_hex}?{query}&secret={client_secret_hex}"


# -- requests ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    method: str
    params: Mapping[str, Any]


def encode_request(request: Request) -> str:
    return json.dumps({"method": request.method, "params": dict(request.params)})


def decode_request(text: str) -> Request:
    obj = _object(text, "request")
    method = obj.get("method")
    if not isinstance(method, str) or not method:
        raise NwcProtocolError("request has no method")
    # Some clients leave out the params of get_info/get_balance: absent is empty.
    params = obj.get("params")
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise NwcProtocolError("request params is not an object")
    return Request(method, params)


# -- responses --------------------------------------------------------------------------


class ErrorCode(enum.Enum):
    RATE_LIMITED = "RATE_LIMITED"
    NOT_IMPLEMENTED = "NOT_IMPLEMENTED"
    INSUFFICIENT_BALANCE = "INSUFFICIENT_BALANCE"
    QUOTA_EXCEEDED = "QUOTA_EXCEEDED"
    RESTRICTED = "RESTRICTED"
    UNAUTHORIZED = "UNAUTHORIZED"
    INTERNAL = "INTERNAL"
    UNSUPPORTED_ENCRYPTION = "UNSUPPORTED_ENCRYPTION"
    PAYMENT_FAILED = "PAYMENT_FAILED"
    NOT_FOUND = "NOT_FOUND"
    OTHER = "OTHER"


@dataclass(frozen=True)
class WalletError:
    """An error a wallet answered; ``raw_code`` is its word, kept when we map it to OTHER."""

    code: ErrorCode
    message: str
    raw_code: str

    @classmethod
    def of(cls, code: ErrorCode, message: str) -> WalletError:
        return cls(code, message, code.value)


@dataclass(frozen=True)
class Response:
    """Exactly one of ``result`` and ``error`` is set."""

    result_type: str
    result: Mapping[str, Any] | None
    error: WalletError | None

    @classmethod
    def success(cls, result_type: str, result: Mapping[str, Any]) -> Response:
        return cls(result_type, result, None)

    @classmethod
    def failure(cls, result_type: str, code: ErrorCode, message: str) -> Response:
        return cls(result_type, None, WalletError.of(code, message))


def encode_response(response: Response) -> str:
    error = response.error
    return json.dumps(
        {
            "result_type": response.result_type,
            "error": None if error is None else {"code": error.raw_code, "message": error.message},
            "result": None if response.result is None else dict(response.result),
        }
    )


def decode_response(text: str) -> Response:
    obj = _object(text, "response")
    result_type = obj.get("result_type")
    if not isinstance(result_type, str):
        raise NwcProtocolError("response has no result_type")
    error = obj.get("error")
    # An error may name no method: a wallet that cannot decrypt or parse a request does
    # not know which one it was (the ``e`` tag still says which request it answers).
    if error is not None:
        return Response(result_type, None, _wallet_error(error))
    if not result_type:
        raise NwcProtocolError("response has no result_type")
    result = obj.get("result")
    if not isinstance(result, dict):
        raise NwcProtocolError("response has neither an error nor a result object")
    return Response(result_type, result, None)


def _wallet_error(error: Any) -> WalletError:
    if not isinstance(error, dict) or not isinstance(error.get("code"), str):
        raise NwcProtocolError("response error has no code")
    message = error.get("message")
    if message is not None and not isinstance(message, str):
        raise NwcProtocolError("response error message is not a string")
    raw = error["code"]
    known = {c.value: c for c in ErrorCode}
    return WalletError(known.get(raw, ErrorCode.OTHER), message or "", raw)


# -- notifications ----------------------------------------------------------------------


@dataclass(frozen=True)
class Notification:
    notification_type: str
    notification: Mapping[str, Any]


def encode_notification(notification: Notification) -> str:
    return json.dumps(
        {
            "notification_type": notification.notification_type,
            "notification": dict(notification.notification),
        }
    )


def decode_notification(text: str) -> Notification:
    obj = _object(text, "notification")
    kind = obj.get("notification_type")
    body = obj.get("notification")
    if not isinstance(kind, str) or not kind:
        raise NwcProtocolError("notification has no notification_type")
    if not isinstance(body, dict):
        raise NwcProtocolError("notification has no notification object")
    return Notification(kind, body)


# -- transactions -----------------------------------------------------------------------


@dataclass(frozen=True)
class Transaction:
    """An invoice (``incoming``) or a payment (``outgoing``) as NIP-47 describes it."""

    type: str
    state: str
    payment_hash: str
    amount_msat: int
    created_at: int
    invoice: str | None = None
    description: str | None = None
    description_hash: str | None = None
    preimage: str | None = None
    fees_paid_msat: int = 0
    expires_at: int | None = None
    settled_at: int | None = None

    @property
    def settled(self) -> bool:
        return self.state == "settled"


def parse_transaction(obj: Mapping[str, Any]) -> Transaction:
    """Read a transaction (make_invoice/lookup_invoice results, list entries, notifications).

    Older wallets send no ``state``: a ``settled_at`` then means settled, else pending.
    """
    if not isinstance(obj, Mapping):
        raise NwcProtocolError("transaction is not an object")
    kind = obj.get("type")
    if kind not in TRANSACTION_TYPES:
        raise NwcProtocolError(f"transaction type is {kind!r}, not incoming or outgoing")
    settled_at = _optional_int(obj, "settled_at")
    state = obj.get("state")
    if state is None:
        state = "settled" if settled_at is not None else "pending"
    if state not in TRANSACTION_STATES:
        raise NwcProtocolError(f"transaction state {state!r} is unknown")
    payment_hash = obj.get("payment_hash")
    if not isinstance(payment_hash, str) or not _HEX64.fullmatch(payment_hash.lower()):
        raise NwcProtocolError("transaction payment_hash is not 32 bytes of hex")
    preimage = _optional_str(obj, "preimage") or None  # some wallets send "" while unpaid
    if preimage is not None and not _HEX64.fullmatch(preimage.lower()):
        raise NwcProtocolError("transaction preimage is not 32 bytes of hex")
    return Transaction(
        type=kind,
        state=state,
        payment_hash=payment_hash.lower(),
        amount_msat=_required_int(obj, "amount"),
        created_at=_required_int(obj, "created_at"),
        invoice=_optional_str(obj, "invoice"),
        description=_optional_str(obj, "description"),
        description_hash=_optional_str(obj, "description_hash"),
        preimage=None if preimage is None else preimage.lower(),
        fees_paid_msat=_optional_int(obj, "fees_paid") or 0,
        expires_at=_optional_int(obj, "expires_at"),
        settled_at=settled_at,
    )


def transaction_json(transaction: Transaction) -> dict[str, Any]:
    """NIP-47's object for ``transaction``; fields we do not know are left out."""
    obj: dict[str, Any] = {
        "type": transaction.type,
        "state": transaction.state,
        "payment_hash": transaction.payment_hash,
        "amount": transaction.amount_msat,
        "fees_paid": transaction.fees_paid_msat,
        "created_at": transaction.created_at,
    }
    for key, value in (
        ("invoice", transaction.invoice),
        ("description", transaction.description),
        ("description_hash", transaction.description_hash),
        ("preimage", transaction.preimage),
        ("expires_at", transaction.expires_at),
        ("settled_at", transaction.settled_at),
    ):
        if value is not None:
            obj[key] = value
    return obj


# -- helpers ----------------------------------------------------------------------------


def _object(text: str, what: str) -> dict[str, Any]:
    try:
        obj = json.loads(text)
    except (TypeError, ValueError) as exc:  # ValueError includes JSONDecodeError
        raise NwcProtocolError(f"{what} is not JSON") from exc
    if not isinstance(obj, dict):
        raise NwcProtocolError(f"{what} is not a JSON object")
    return obj


def _is_string_list(tag: Any) -> bool:
    return isinstance(tag, list | tuple) and all(isinstance(value, str) for value in tag)


def _is_int(value: Any) -> bool:
    # Bounded by SQLite's integer: a larger one would fail only when stored.
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63


def _required_int(obj: Mapping[str, Any], key: str) -> int:
    value: Any = obj.get(key)
    if not _is_int(value):
        raise NwcProtocolError(f"transaction {key} is not a non-negative integer")
    return int(value)


def _optional_int(obj: Mapping[str, Any], key: str) -> int | None:
    value = obj.get(key)
    return None if value is None else _required_int(obj, key)


def _optional_str(obj: Mapping[str, Any], key: str) -> str | None:
    value = obj.get(key)
    if value is not None and not isinstance(value, str):
        raise NwcProtocolError(f"transaction {key} is not a string")
    return value
