"""LUD-03 ``withdrawRequest`` for refunds, without I/O: the offer and its callback's rules.

A ``k1`` is a bearer secret (whoever holds it can take the refund): it is random, never
logged (the dataclasses keep it out of their repr) and compared in constant time. Claiming
it once, before paying, is the store's job; this module only says whether a callback may
proceed to that claim.
"""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from bot.errors import LnurlError
from bot.ports.bolt11 import DecodedInvoice, decode_invoice

__all__ = [
    "K1_BYTES",
    "WithdrawCallback",
    "WithdrawOffer",
    "check_withdraw_invoice",
    "k1_matches",
    "new_k1",
    "parse_withdraw_callback",
]

K1_BYTES = 32
# The invoice must outlive our payment attempt; a few seconds of slack is not enough.
MIN_EXPIRY_LEFT_S = 30
_K1 = re.compile(rf"^[0-9a-f]{{{2 * K1_BYTES}}}$")


def new_k1(token_bytes: Callable[[int], bytes] = secrets.token_bytes) -> str:
    return token_bytes(K1_BYTES).hex()


def k1_matches(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


@dataclass(frozen=True)
class WithdrawOffer:
    """What the withdraw link answers (LUD-03 step 3)."""

    callback: str
    k1: str = field(repr=False)
    min_withdrawable_msat: int
    max_withdrawable_msat: int
    default_description: str

    def __post_init__(self) -> None:
        if not 0 <= self.min_withdrawable_msat <= self.max_withdrawable_msat:
            raise ValueError("withdraw bounds must satisfy 0 <= min <= max")

    def as_json(self) -> dict[str, object]:
        return {
            "tag": "withdrawRequest",
            "callback": self.callback,
            "k1": self.k1,
            "defaultDescription": self.default_description,
            "minWithdrawable": self.min_withdrawable_msat,
            "maxWithdrawable": self.max_withdrawable_msat,
        }


@dataclass(frozen=True)
class WithdrawCallback:
    """The wallet's callback query (LUD-03 step 5): which link, and the invoice to pay."""

    k1: str = field(repr=False)
    pr: str


def parse_withdraw_callback(params: Mapping[str, str]) -> WithdrawCallback:
    k1, pr = params.get("k1"), params.get("pr")
    if not k1:
        raise LnurlError("k1 is missing")
    if not pr:
        raise LnurlError("pr (the invoice to pay) is missing")
    if not _K1.match(k1):
        raise LnurlError("unknown or used withdraw link")  # the same answer as an unknown k1
    return WithdrawCallback(k1=k1, pr=pr.strip())


def check_withdraw_invoice(
    pr: str,
    *,
    min_withdrawable_msat: int,
    max_withdrawable_msat: int,
    currency: str,
    now: int,
    min_expiry_left_s: int = MIN_EXPIRY_LEFT_S,
) -> DecodedInvoice:
    """May we pay ``pr`` for this withdrawal? Raise LnurlError with the reason if not."""
    invoice = decode_invoice(pr)
    if invoice.currency != currency:
        raise LnurlError(f"invoice is for another network ({invoice.currency})")
    if invoice.amount_msat is None:
        raise LnurlError("invoice must state an amount")
    if invoice.amount_msat > max_withdrawable_msat:
        raise LnurlError(f"invoice amount is above the {max_withdrawable_msat} msat refundable")
    if invoice.amount_msat < min_withdrawable_msat:
        raise LnurlError(f"invoice amount is below the minimum of {min_withdrawable_msat} msat")
    if invoice.is_expired(now + min_expiry_left_s):
        raise LnurlError("invoice has expired or expires too soon")
    return invoice
