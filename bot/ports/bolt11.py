"""BOLT11 invoices as one frozen value: :class:`DecodedInvoice`, and the offline decoder.

The one invoice type of the project: :func:`decode_invoice` fills it offline (zap codec,
withdraw checks, the ``zap`` command) and the backend's RPC ``decode`` fills the same type
(``LightningBackend.decode_invoice``), so both answers compare field for field.

The ``bolt11`` package does the bech32 and signature work: it verifies the signature
against the ``n`` field when there is one, and otherwise recovers the payee from it. Every
way it can fail (its own exceptions, but also bitstring and unicode errors on garbage)
becomes one :class:`~bot.errors.LnurlError` ("invalid invoice: ..."), because the text
always comes from outside: a wallet, a callback answer or a relay.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import bolt11

from bot.errors import LnurlError

__all__ = ["NETWORK_CURRENCY", "DecodedInvoice", "decode_invoice"]

# BOLT11 human-readable prefixes per network (lnbc..., lntb..., lntbs..., lnbcrt...).
NETWORK_CURRENCY = {
    "bitcoin": "bc",
    "testnet": "tb",
    "testnet4": "tb",
    "signet": "tbs",
    "regtest": "bcrt",
}
# Longer than any invoice a wallet puts in a QR code, short enough that garbage costs little.
MAX_INVOICE_CHARS = 8192
_HRP = re.compile(r"^ln(bcrt|bc|tbs|tb)(?:(\d+)([munp]?))?$")


@dataclass(frozen=True)
class DecodedInvoice:
    """What a BOLT11 string says (checked: signature, checksum, whole msat amount)."""

    bolt11: str
    currency: str  # "bc", "tb", "tbs" or "bcrt"
    amount_msat: int | None  # None: the payer chooses
    payment_hash: str  # hex
    description: str | None
    description_hash: str | None  # hex
    payee: str  # the node's compressed public key, hex
    created_at: int  # unix seconds
    expiry_s: int

    @property
    def expires_at(self) -> int:
        return self.created_at + self.expiry_s

    def is_expired(self, now: int) -> bool:
        return now >= self.expires_at


def decode_invoice(text: str) -> DecodedInvoice:
    """Decode and check a BOLT11 string; raise LnurlError("invalid invoice: ...")."""
    if len(text) > MAX_INVOICE_CHARS:
        raise LnurlError("invalid invoice: too long")
    hrp = _HRP.match(text[: text.rfind("1")].lower()) if "1" in text else None
    if hrp is None:
        raise LnurlError("invalid invoice: not a BOLT11 invoice")
    digits, multiplier = hrp.group(2), hrp.group(3)
    # BOLT11: a pico-bitcoin amount must end in 0, or it is not a whole millisatoshi.
    if digits is not None and (int(digits) == 0 or (multiplier == "p" and digits[-1] != "0")):
        raise LnurlError("invalid invoice: amount is not a whole positive millisatoshi")
    try:
        decoded = bolt11.decode(text)
    except Exception as exc:  # bolt11, bitstring and codecs all raise their own types
        raise LnurlError(f"invalid invoice: {exc or type(exc).__name__}") from None
    return DecodedInvoice(
        bolt11=text,
        currency=decoded.currency,
        amount_msat=None if decoded.amount_msat is None else int(decoded.amount_msat),
        payment_hash=decoded.payment_hash,
        description=decoded.description,
        description_hash=decoded.description_hash,
        payee=decoded.payee or "",
        created_at=decoded.date,
        expiry_s=decoded.expiry,
    )
