"""What a zap receipt must match beyond NIP-57 appendix F, decided without I/O.

Appendix F (``bot.nostr.zaps.validate_zap_receipt``) says who signed what. It cannot say
that money arrived: that is :func:`confirm_payment`'s job, against the invoice our own
node returns for the receipt's payment hash.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping, Sequence

from bot.errors import ZapInvalid
from bot.nostr.zaps import ZapReceipt
from bot.ports.lightning import Invoice, InvoiceStatus

__all__ = [
    "FREE_STATUSES",
    "choose_connector",
    "confirm_payment",
    "currency_of",
    "recipient_of",
    "requested_connector",
    "since_for",
]

# A connector that reports these can start a session (Preparing: plugged in, not started).
FREE_STATUSES = frozenset({"Available", "Preparing"})
_CURRENCIES = {
    "bitcoin": "bc",
    "testnet": "tb",
    "testnet4": "tb",
    "signet": "tbs",
    "regtest": "bcrt",
}
# "connector 2", "plug 2", "#2": how a driver names a connector in the zap comment.
_CONNECTOR = re.compile(r"(?:\bconnector|\bplug|#)\s*:?\s*(\d{1,3})\b", re.IGNORECASE)


def currency_of(network: str) -> str | None:
    """BOLT11's currency prefix of a network name from ``[lightning]``."""
    return _CURRENCIES.get(network)


def since_for(cursor: int | None, now: float, margin_s: int) -> int:
    """Where the subscription starts: a margin before the last receipt that counted.

    The margin covers receipts that reach a relay late or carry a slightly older paid
    time; seeing one again costs only a lookup, as its payment hash is already claimed.
    Without a cursor (first start), the margin before now.
    """
    start = cursor if cursor is not None else int(now)
    return max(0, min(start, int(now)) - margin_s)


def recipient_of(raw_json: str, ours: Collection[str]) -> str | None:
    """The first ``p`` tag of a receipt that names one of ``ours``; None if none does."""
    try:
        tags = json.loads(raw_json).get("tags")
    except (ValueError, AttributeError):
        return None
    if not isinstance(tags, list):
        return None
    for tag in tags:
        if isinstance(tag, list) and len(tag) > 1 and tag[0] == "p" and tag[1] in ours:
            return str(tag[1])
    return None


def confirm_payment(
    receipt: ZapReceipt, invoice: Invoice | None, *, now: float, max_age_s: int
) -> int:
    """Our node's word on the receipt's invoice; the paid time, or ZapInvalid."""
    if invoice is None:
        raise ZapInvalid("unknown-invoice", "our node has no invoice with this payment hash")
    if invoice.bolt11.lower() != receipt.invoice.bolt11.lower():
        raise ZapInvalid("other-invoice", "our node's invoice differs from the receipt's bolt11")
    if invoice.status is not InvoiceStatus.PAID:
        raise ZapInvalid("unpaid", f"our node reports the invoice {invoice.status.value}")
    received = invoice.amount_received_msat or invoice.amount_msat
    if invoice.amount_msat != receipt.amount_msat or received < receipt.amount_msat:
        raise ZapInvalid("amount-differs", "our node received another amount than the receipt's")
    paid_at = invoice.paid_at if invoice.paid_at is not None else int(now)
    if paid_at < now - max_age_s:
        raise ZapInvalid("stale", f"paid {int(now - paid_at)} s ago; too old to start a session")
    return paid_at


def requested_connector(comment: str, connectors: Sequence[int]) -> int | None:
    """A connector the zap comment names, if the charger has it."""
    match = _CONNECTOR.search(comment)
    if match is None:
        return None
    wanted = int(match.group(1))
    return wanted if wanted in connectors else None


def choose_connector(
    connectors: Sequence[int],
    wanted: int | None,
    statuses: Mapping[int, str],
    held: Collection[int],
) -> tuple[int, bool]:
    """The connector for a paid receipt, and whether it can start now.

    The money is already paid, so there is always an answer: the requested connector, else
    the first free one, else the first one. A session that cannot start fails to start and
    is refunded in full by the session layer: that is the refusal a receipt can get.
    """

    def free(connector: int) -> bool:
        return statuses.get(connector) in FREE_STATUSES and connector not in held

    if wanted is not None:
        return wanted, free(wanted)
    for connector in connectors:
        if free(connector):
            return connector, True
    return connectors[0], False
