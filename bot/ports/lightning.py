"""The narrow Lightning backend interface, with typed results.

Anything that moves money goes through :class:`LightningBackend`. A result is *paid*,
*pending* or *failed*; when the backend cannot tell (the node is unreachable, a call
timed out) the answer is *pending*, never *failed*: a refund released on a guess could
be paid twice. Backends raise :class:`~bot.errors.LightningUnavailable` when the node
cannot be reached and :class:`~bot.errors.LightningError` (with CLN's code) when it
refused.

Kept small enough that a Nostr Wallet Connect (NIP-47) backend fits the same shape.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from bot.ports.bolt11 import DecodedInvoice

__all__ = [
    "DecodedInvoice",
    "Invoice",
    "InvoiceStatus",
    "LightningBackend",
    "NodeInfo",
    "Payment",
    "PaymentStatus",
]


class InvoiceStatus(enum.Enum):
    UNPAID = "unpaid"
    PAID = "paid"
    EXPIRED = "expired"


class PaymentStatus(enum.Enum):
    PAID = "paid"
    PENDING = "pending"  # includes "unknown": never treat as failed
    FAILED = "failed"  # definite: the payment can no longer succeed


@dataclass(frozen=True)
class Invoice:
    label: str
    bolt11: str
    payment_hash: str  # hex
    amount_msat: int
    status: InvoiceStatus
    expires_at: int  # unix seconds
    pay_index: int | None = None
    paid_at: int | None = None  # unix seconds
    preimage: str | None = None  # hex; only once paid
    amount_received_msat: int | None = None


@dataclass(frozen=True)
class Payment:
    payment_hash: str
    status: PaymentStatus
    amount_msat: int | None = None  # what the recipient got
    amount_sent_msat: int | None = None  # including fees
    preimage: str | None = None
    failure: str | None = None  # why, when FAILED


@dataclass(frozen=True)
class NodeInfo:
    node_id: str
    alias: str
    network: str
    block_height: int
    version: str


class LightningBackend(Protocol):
    async def create_invoice(
        self,
        amount_msat: int,
        label: str,
        description: str,
        *,
        expiry_s: int,
        description_hash_only: bool = False,
    ) -> Invoice:
        """A new invoice. With ``description_hash_only`` the BOLT11 carries only the SHA256
        of ``description`` (NIP-57 zaps: the exact zap-request JSON)."""
        ...

    def paid_invoices(self, after_pay_index: int) -> AsyncIterator[Invoice]:
        """Every invoice paid after ``after_pay_index``, in pay_index order, forever.

        The caller persists the last pay_index it has fully handled and passes it back
        after a restart, so nothing paid while the bot was down is missed."""
        ...

    async def lookup_invoice(self, payment_hash: str) -> Invoice | None: ...

    async def pay(
        self, bolt11: str, *, max_fee_msat: int, amount_msat: int | None = None
    ) -> Payment:
        """Pay an invoice (refunds). Returns PENDING when the outcome is not known yet."""
        ...

    async def lookup_payment(self, payment_hash: str) -> Payment | None:
        """The outcome of an earlier :meth:`pay`, or None if the node never saw it."""
        ...

    async def decode_invoice(self, bolt11: str) -> DecodedInvoice:
        """Decode and check a BOLT11 invoice; raises LightningError when it is not valid."""
        ...

    async def node_info(self) -> NodeInfo: ...

    async def close(self) -> None:
        """Release connections; the backend is not used afterwards."""
        ...
