"""The paying side of LNURL-pay, without I/O: read a stranger's pay request, check its invoice.

Used where the bot pays someone (a refund to the driver's lightning address) and where
``zapcharge zap`` plays the driver's wallet. Everything here comes from another server,
so every field is checked before it is believed, and the invoice is checked against what
we asked for: the amount, and the description hash (sha256 of the metadata, or of the
zap request for a zap), which is the only thing binding the invoice to this payment.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit

from bot.errors import LnurlError
from bot.lnurl.protocol import PayOffer
from bot.ports.bolt11 import DecodedInvoice, decode_invoice

__all__ = ["callback_url", "check_pay_invoice", "lud_error", "parse_pay_request"]

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
MAX_METADATA_CHARS = 1 << 20


def lud_error(data: Any) -> str | None:
    """The reason of a LUD ``{"status": "ERROR"}`` answer, or None for anything else."""
    if isinstance(data, dict) and str(data.get("status", "")).upper() == "ERROR":
        return str(data.get("reason") or "no reason given")[:300]
    return None


def parse_pay_request(data: Any) -> PayOffer:
    """A LUD-06 ``payRequest`` answer as a :class:`PayOffer`; LnurlError if it is not one."""
    if not isinstance(data, dict) or data.get("tag") != "payRequest":
        raise LnurlError("not an LNURL pay request")
    callback = data.get("callback")
    if not isinstance(callback, str) or urlsplit(callback).scheme not in ("http", "https"):
        raise LnurlError("pay request has no http(s) callback")
    low, high = _msat(data, "minSendable"), _msat(data, "maxSendable")
    if not 0 < low <= high:
        raise LnurlError("pay request has impossible minSendable/maxSendable")
    metadata = data.get("metadata")
    if not isinstance(metadata, str) or len(metadata) > MAX_METADATA_CHARS:
        raise LnurlError("pay request has no metadata string")
    _check_metadata(metadata)
    comment_allowed = data.get("commentAllowed", 0)
    if type(comment_allowed) is not int or comment_allowed < 0:
        comment_allowed = 0  # lenient: a comment is a nicety, not part of the payment
    nostr_pubkey = data.get("nostrPubkey") if data.get("allowsNostr") is True else None
    if nostr_pubkey is not None and not (
        isinstance(nostr_pubkey, str) and _HEX64.match(nostr_pubkey)
    ):
        raise LnurlError("pay request's nostrPubkey is not a hex public key")
    return PayOffer(
        callback=callback,
        min_sendable_msat=low,
        max_sendable_msat=high,
        metadata=metadata,
        comment_allowed=comment_allowed,
        nostr_pubkey=nostr_pubkey,
    )


def _msat(data: Mapping[str, Any], key: str) -> int:
    value = data.get(key)
    if type(value) is not int:  # type(): JSON true is not an amount
        raise LnurlError(f"pay request's {key} is not a whole number of msat")
    return value


def _check_metadata(metadata: str) -> None:
    try:
        entries = json.loads(metadata)
    except ValueError:
        raise LnurlError("pay request's metadata is not JSON") from None
    if not isinstance(entries, list) or not any(
        isinstance(e, list) and len(e) >= 2 and e[0] == "text/plain" for e in entries
    ):
        raise LnurlError("pay request's metadata has no text/plain entry")


def callback_url(callback: str, params: Mapping[str, str]) -> str:
    """LUD-06: add the query with ``?`` or ``&``, whichever the callback needs."""
    joiner = "&" if urlsplit(callback).query else "?"
    return f"{callback}{joiner}{urlencode(params)}"


def check_pay_invoice(
    pr: Any, *, amount_msat: int, description: str, currency: str, now: int
) -> DecodedInvoice:
    """The callback's ``pr`` must be for exactly this amount and commit to ``description``."""
    if not isinstance(pr, str) or not pr:
        raise LnurlError("the callback answered no invoice")
    invoice = decode_invoice(pr)
    if invoice.currency != currency:
        raise LnurlError(f"the invoice is for another network ({invoice.currency})")
    if invoice.amount_msat != amount_msat:
        raise LnurlError(f"the invoice asks {invoice.amount_msat} msat, not {amount_msat} msat")
    wanted = hashlib.sha256(description.encode("utf-8")).hexdigest()
    if invoice.description_hash != wanted:
        raise LnurlError("the invoice's description hash does not match what was asked")
    if invoice.is_expired(now):
        raise LnurlError("the invoice has expired already")
    return invoice
