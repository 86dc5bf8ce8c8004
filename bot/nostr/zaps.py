"""NIP-57 zaps: zap requests (kind 9734) in, zap receipts (kind 9735) out, and back again.

Pure functions over JSON strings; ``nostr_sdk`` only computes ids and checks and makes
signatures, and none of its types leave this module.

- :func:`parse_zap_request` applies NIP-57 appendix D to what an LNURL callback received.
  The exact string is kept: the invoice commits to ``sha256(raw)``, so one changed byte
  (even re-serialising the same JSON) breaks every wallet's description-hash check.
- :func:`build_zap_receipt` writes appendix E's receipt once the invoice is paid, from the
  request as :func:`load_zap_request` reads it back from the store.
- :func:`validate_zap_receipt` applies appendix F (and more) to a receipt from a relay; a
  valid receipt is still only a hint until our own node confirms the payment.
- :func:`build_zap_request` is the driver's side, for ``zapcharge zap`` and tests.

Every refusal is a :class:`~bot.errors.ZapInvalid` whose ``code`` names the rule.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeGuard
from urllib.parse import urlsplit

import nostr_sdk

from bot.config.keys import ChargerKeys
from bot.errors import LnurlError, ZapInvalid
from bot.nostr.keys import sdk_keys
from bot.ports.bolt11 import DecodedInvoice, decode_invoice

__all__ = [
    "ZAP_RECEIPT_KIND",
    "ZAP_REQUEST_KIND",
    "ZapReceipt",
    "ZapRequest",
    "build_zap_receipt",
    "build_zap_request",
    "load_zap_request",
    "parse_zap_request",
    "validate_zap_receipt",
]

ZAP_REQUEST_KIND = 9734
ZAP_RECEIPT_KIND = 9735
# A zap request rides in a URL query; wallets and proxies cap URLs far below this.
MAX_REQUEST_CHARS = 16_384
MAX_RECEIPT_CHARS = 65_536
MAX_RELAYS = 64
DEFAULT_MAX_FUTURE_S = 300  # phones' clocks run ahead; more than this is not clock skew
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_HEX128 = re.compile(r"^[0-9a-f]{128}$")
_COORDINATE = re.compile(r"^(\d{1,5}):([0-9a-f]{64}):(.*)$", re.DOTALL)


@dataclass(frozen=True)
class ZapRequest:
    """A zap request that passed every check; ``raw`` is the exact string received."""

    raw: str = field(repr=False)
    id: str
    sender_pubkey: str
    recipient_pubkey: str
    created_at: int
    relays: tuple[str, ...]
    amount_msat: int | None  # the `amount` tag, when the client sent one
    lnurl: str | None
    event_id: str | None  # `e`: the zapped event
    coordinate: str | None  # `a`: the zapped addressable event
    target_kind: str | None  # `k`: the zapped event's kind
    comment: str

    @property
    def description_hash(self) -> str:
        """sha256 of the exact request string: the invoice's description hash (hex)."""
        return hashlib.sha256(self.raw.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ZapReceipt:
    """A zap receipt that passed appendix F: who says what was paid, not proof of payment."""

    raw: str = field(repr=False)
    id: str
    zapper_pubkey: str
    recipient_pubkey: str
    created_at: int
    invoice: DecodedInvoice
    amount_msat: int
    preimage: str | None = field(repr=False)  # public once paid, but kept out of logs
    request: ZapRequest

    @property
    def payment_hash(self) -> str:
        return self.invoice.payment_hash


@dataclass(frozen=True)
class _Event:
    id: str
    pubkey: str
    created_at: int
    kind: int
    tags: tuple[tuple[str, ...], ...]
    content: str

    def tags_named(self, name: str) -> list[tuple[str, ...]]:
        return [tag for tag in self.tags if tag[0] == name]


def parse_zap_request(
    raw_json: str,
    *,
    amount_msat: int,
    charger_pubkey: str,
    now: int,
    max_age_s: int,
    max_future_s: int = DEFAULT_MAX_FUTURE_S,
    receipt_pubkey: str | None = None,
) -> ZapRequest:
    """Check the ``nostr`` parameter of an LNURL-pay callback per NIP-57 appendix D.

    ``receipt_pubkey`` is our ``nostrPubkey`` (the charger's key unless set otherwise).
    """
    request = _zap_request_from(raw_json, receipt_pubkey or charger_pubkey)
    if request.recipient_pubkey != charger_pubkey:
        raise ZapInvalid("wrong-recipient", "zap request's p tag is not this charger")
    if request.amount_msat is not None and request.amount_msat != amount_msat:
        raise ZapInvalid(
            "amount-mismatch",
            f"zap request amount {request.amount_msat} msat differs from amount {amount_msat}",
        )
    if request.created_at < now - max_age_s:
        raise ZapInvalid("too-old", "zap request is too old; create a new one")
    if request.created_at > now + max_future_s:
        raise ZapInvalid("in-future", "zap request is dated in the future; check your clock")
    return request


def load_zap_request(
    raw_json: str, *, charger_pubkey: str, receipt_pubkey: str | None = None
) -> ZapRequest:
    """A zap request accepted earlier (stored with its invoice), checked again without the
    clock: it was fresh when the callback took it, and its invoice may be paid much later."""
    request = _zap_request_from(raw_json, receipt_pubkey or charger_pubkey)
    if request.recipient_pubkey != charger_pubkey:
        raise ZapInvalid("wrong-recipient", "zap request's p tag is not this charger")
    return request


def build_zap_receipt(
    keys: ChargerKeys, request: ZapRequest, bolt11: str, preimage: str | None, paid_at: int
) -> str:
    """The signed kind 9735 receipt (appendix E) for a paid zap invoice, as JSON."""
    invoice = _decode_bolt11(bolt11)
    if invoice.description_hash != request.description_hash:
        raise ZapInvalid("description-hash", "invoice does not commit to this zap request")
    if preimage is not None and not _preimage_matches(preimage, invoice.payment_hash):
        raise ZapInvalid("preimage", "preimage does not match the invoice's payment hash")
    tags = [["p", request.recipient_pubkey], ["P", request.sender_pubkey]]
    tags += [["e", request.event_id]] if request.event_id else []
    tags += [["a", request.coordinate]] if request.coordinate else []
    tags += [["k", request.target_kind]] if request.target_kind else []
    tags += [["bolt11", bolt11], ["description", request.raw]]
    tags += [["preimage", preimage]] if preimage else []
    return _sign(keys, ZAP_RECEIPT_KIND, tags, "", paid_at)


def validate_zap_receipt(
    raw_json: str,
    *,
    trusted_zapper_pubkeys: Collection[str],
    expected_recipient: str,
    expected_lnurl: str | None = None,
    currency: str | None = None,
) -> ZapReceipt:
    """Check a kind 9735 receipt per appendix F, plus what a careful client also checks.

    ``currency`` ("bc", "bcrt", ...) refuses invoices of another network.
    """
    event = _load_event(
        raw_json, "zap receipt", MAX_RECEIPT_CHARS, ZAP_RECEIPT_KIND, trusted_zapper_pubkeys
    )
    description = _only_value(event, "description", "zap receipt")
    try:
        request = _zap_request_from(description, event.pubkey)
    except ZapInvalid as exc:
        raise ZapInvalid(f"request-{exc.code}", f"zap receipt's request: {exc.reason}") from None
    invoice = _decode_bolt11(_only_value(event, "bolt11", "zap receipt"))
    _check_receipt_against(event, request, invoice, expected_recipient)
    if currency is not None and invoice.currency != currency:
        raise ZapInvalid("network", f"zap receipt's invoice is for network {invoice.currency!r}")
    if expected_lnurl and request.lnurl and request.lnurl.lower() != expected_lnurl.lower():
        raise ZapInvalid("lnurl-mismatch", "zap request's lnurl is not the recipient's")
    preimage = _optional_value(
        event,
        "preimage",
        "zap receipt",
        lambda value: _preimage_matches(value, invoice.payment_hash),
        "the preimage of the invoice's payment hash",
    )
    assert invoice.amount_msat is not None  # _check_receipt_against refuses amountless ones
    return ZapReceipt(
        raw=raw_json,
        id=event.id,
        zapper_pubkey=event.pubkey,
        recipient_pubkey=expected_recipient,
        created_at=event.created_at,
        invoice=invoice,
        amount_msat=invoice.amount_msat,
        preimage=preimage,
        request=request,
    )


def build_zap_request(
    driver_keys: ChargerKeys,
    *,
    recipient_pubkey: str,
    amount_msat: int,
    relays: Sequence[str],
    comment: str,
    lnurl: str | None,
    event_id: str | None = None,
    coordinate: str | None = None,
    now: int,
) -> str:
    """A signed kind 9734 zap request (appendix A), as the JSON to send to the callback."""
    tags = [["relays", *relays], ["amount", str(amount_msat)]]
    tags += [["lnurl", lnurl]] if lnurl else []
    tags += [["p", recipient_pubkey]]
    tags += [["e", event_id]] if event_id else []
    tags += [["a", coordinate]] if coordinate else []
    return _sign(driver_keys, ZAP_REQUEST_KIND, tags, comment, now)


def _check_receipt_against(
    event: _Event, request: ZapRequest, invoice: DecodedInvoice, expected_recipient: str
) -> None:
    """The receipt's own tags and invoice must say what its zap request says."""
    if invoice.description_hash != request.description_hash:
        raise ZapInvalid("description-hash", "invoice description hash is not sha256(request)")
    if invoice.amount_msat is None:
        raise ZapInvalid("amount-missing", "zap receipt's invoice has no amount")
    if request.amount_msat is not None and invoice.amount_msat != request.amount_msat:
        raise ZapInvalid("amount-mismatch", "invoice amount differs from the request's amount")
    recipients = [tag[1] for tag in event.tags_named("p") if len(tag) > 1]
    if recipients != [expected_recipient] or request.recipient_pubkey != expected_recipient:
        raise ZapInvalid("wrong-recipient", "zap receipt is not for the expected recipient")
    for name, wanted in (("e", request.event_id), ("a", request.coordinate)):
        values = [tag[1] for tag in event.tags_named(name) if len(tag) > 1]
        if values != ([wanted] if wanted else []):
            raise ZapInvalid(f"{name}-tag", f"zap receipt's {name} tag differs from the request")
    senders = [tag[1] for tag in event.tags_named("P") if len(tag) > 1]
    if senders not in ([], [request.sender_pubkey]):
        raise ZapInvalid("P-tag", "zap receipt's P tag is not the zap request's author")


def _zap_request_from(raw: str, receipt_pubkey: str) -> ZapRequest:
    """Appendix D, rules 1-8, except the amount query and the recipient, checked by callers.

    Only what appendix D names is refused; other tags are read leniently (the first `lnurl`,
    a `k` only when it is a number) because refusing them would refuse working clients.
    """
    event = _load_event(raw, "zap request", MAX_REQUEST_CHARS, ZAP_REQUEST_KIND)
    if not event.tags:
        raise ZapInvalid("no-tags", "zap request has no tags")
    recipient = _only_value(event, "p", "zap request")
    if not _HEX64.match(recipient):
        raise ZapInvalid("p-tag", "zap request's p tag is not a hex public key")
    event_id = _optional_value(event, "e", "zap request", _HEX64.match, "a hex event id")
    coordinate = _optional_value(event, "a", "zap request", _is_coordinate, "an event coordinate")
    receipt_signer = _optional_value(event, "P", "zap request", _HEX64.match, "a public key")
    if receipt_signer is not None and receipt_signer != receipt_pubkey:
        raise ZapInvalid("P-tag", "zap request's P tag must be the zap receipt's signer")
    lnurls = [tag[1] for tag in event.tags_named("lnurl") if len(tag) > 1]
    kinds = [tag[1] for tag in event.tags_named("k") if len(tag) > 1 and _is_number(tag[1])]
    return ZapRequest(
        raw=raw,
        id=event.id,
        sender_pubkey=event.pubkey,
        recipient_pubkey=recipient,
        created_at=event.created_at,
        relays=_relays(event),
        amount_msat=_amount(event),
        lnurl=lnurls[0] if lnurls else None,
        event_id=event_id,
        coordinate=coordinate,
        target_kind=kinds[0] if kinds else None,
        comment=event.content,
    )


def _relays(event: _Event) -> tuple[str, ...]:
    """The relays to publish the receipt to: ws(s) URLs only, repeats and excess dropped.

    A missing or useless relays tag is refused (rule 5): the receipt would go nowhere.
    Unusable entries are skipped rather than refused, as clients send long, messy lists.
    """
    listed = (value.strip() for tag in event.tags_named("relays") for value in tag[1:])
    usable = [url for url in listed if _is_relay_url(url)]
    if not usable:
        raise ZapInvalid("relays", "zap request needs a relays tag with a ws:// or wss:// relay")
    return tuple(dict.fromkeys(usable))[:MAX_RELAYS]


def _is_relay_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
        return parts.scheme in ("ws", "wss") and bool(parts.hostname) and parts.port != 0
    except ValueError:  # a bad port number or IPv6 literal
        return False


def _amount(event: _Event) -> int | None:
    """Rule 6 compares every amount tag with the query, so all must agree on one number."""
    values = {tag[1] if len(tag) > 1 else "" for tag in event.tags_named("amount")}
    if not values:
        return None
    if len(values) > 1 or not all(_is_number(v) and 0 < int(v) < 2**63 for v in values):
        raise ZapInvalid("amount-tag", "zap request's amount tag is not one whole msat amount")
    return int(values.pop())


def _is_number(text: str) -> bool:
    return text.isascii() and text.isdigit()  # isdigit alone accepts "²" and other digits


def _is_coordinate(value: str) -> bool:
    """NIP-01 `a` values: ``kind:pubkey:d`` for addressable, ``kind:pubkey:`` for replaceable."""
    match = _COORDINATE.match(value)
    if match is None:
        return False
    kind, d_tag = int(match.group(1)), match.group(3)
    if 30000 <= kind < 40000:
        return True
    return (kind in (0, 3) or 10000 <= kind < 20000) and d_tag == ""


def _only_value(event: _Event, name: str, what: str) -> str:
    tags = event.tags_named(name)
    if len(tags) != 1 or len(tags[0]) < 2:
        raise ZapInvalid(f"{name}-tag", f"{what} must have exactly one {name} tag")
    return tags[0][1]


def _optional_value(
    event: _Event, name: str, what: str, valid: Callable[[str], object], meaning: str
) -> str | None:
    tags = event.tags_named(name)
    if not tags:
        return None
    if len(tags) > 1:
        raise ZapInvalid(f"{name}-tag", f"{what} must have at most one {name} tag")
    if len(tags[0]) < 2 or not valid(tags[0][1]):
        raise ZapInvalid(f"{name}-tag", f"{what}'s {name} tag is not {meaning}")
    return tags[0][1]


def _load_event(
    raw: str, what: str, max_chars: int, kind: int, signers: Collection[str] | None = None
) -> _Event:
    """Shape per NIP-01, the kind and the signer (cheap), then id and signature (rule 1)."""
    if len(raw) > max_chars:
        raise ZapInvalid("too-large", f"{what} is longer than {max_chars} characters")
    try:
        data = json.loads(raw)
    except ValueError:
        raise ZapInvalid("malformed", f"{what} is not JSON") from None
    event = _event_shape(data)
    if event is None:
        raise ZapInvalid("malformed", f"{what} is not a nostr event")
    if event.kind != kind:
        raise ZapInvalid("kind", f"{what} must be kind {kind}, not {event.kind}")
    if signers is not None and event.pubkey not in signers:
        raise ZapInvalid("untrusted-signer", f"{what} is not signed by a trusted zapper")
    try:
        sdk_event = nostr_sdk.Event.from_json(raw)
    except Exception:  # NostrSdkError: a field the SDK cannot take (a pubkey off the curve)
        raise ZapInvalid("malformed", f"{what} is not a valid nostr event") from None
    if not sdk_event.verify_id():
        raise ZapInvalid("id", f"{what} id does not match its content")
    # verify_signature checks the signature over the id, so it counts only after verify_id.
    if not sdk_event.verify_signature():
        raise ZapInvalid("signature", f"{what} signature is invalid")
    return event


def _event_shape(data: Any) -> _Event | None:
    if not isinstance(data, dict) or not _is_hex(data.get("sig"), _HEX128):
        return None
    ident, pubkey, created_at = data.get("id"), data.get("pubkey"), data.get("created_at")
    kind, tags, content = data.get("kind"), data.get("tags"), data.get("content")
    if not (isinstance(ident, str) and _HEX64.match(ident)):
        return None
    if not (isinstance(pubkey, str) and _HEX64.match(pubkey)) or not isinstance(content, str):
        return None
    if not (_is_uint(created_at) and _is_uint(kind)):
        return None
    if not isinstance(tags, list) or not all(_is_tag(tag) for tag in tags):
        return None
    return _Event(ident, pubkey, created_at, kind, tuple(tuple(t) for t in tags), content)


def _is_hex(value: Any, pattern: re.Pattern[str]) -> bool:
    return isinstance(value, str) and pattern.match(value) is not None


def _is_uint(value: Any) -> TypeGuard[int]:
    return type(value) is int and 0 <= value < 2**63  # type(): a JSON true is not a number


def _is_tag(tag: Any) -> bool:
    return isinstance(tag, list) and len(tag) > 0 and all(isinstance(v, str) for v in tag)


def _decode_bolt11(bolt11: str) -> DecodedInvoice:
    try:
        return decode_invoice(bolt11)
    except LnurlError as exc:
        raise ZapInvalid("bolt11", exc.reason) from None


def _preimage_matches(preimage: str, payment_hash: str) -> bool:
    return bool(_HEX64.match(preimage)) and (
        hashlib.sha256(bytes.fromhex(preimage)).hexdigest() == payment_hash
    )


def _sign(keys: ChargerKeys, kind: int, tags: list[list[str]], content: str, at: int) -> str:
    builder = nostr_sdk.EventBuilder(nostr_sdk.Kind(kind), content)
    builder = builder.tags([nostr_sdk.Tag.parse(tag) for tag in tags])
    event = builder.custom_created_at(nostr_sdk.Timestamp.from_secs(at)).finalize(sdk_keys(keys))
    return str(event.as_json())
