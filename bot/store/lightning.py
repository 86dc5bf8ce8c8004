"""Lightning bookkeeping in the store: the paid-invoice cursor and our invoices.

The cursor is the last ``pay_index`` whose invoice has been fully handled; it only moves
forward (a stale writer cannot rewind it and cause a replay).
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.ports.lightning import Invoice, InvoiceStatus
from bot.store.db import Database, Row

__all__ = ["PAY_INDEX_KEY", "LightningStore", "StoredInvoice"]

PAY_INDEX_KEY = "lightning.pay_index"


@dataclass(frozen=True)
class StoredInvoice:
    payment_hash: str
    label: str
    session_id: str | None
    bolt11: str
    amount_msat: int
    description: str
    zap_request: str | None
    status: InvoiceStatus
    pay_index: int | None
    preimage: str | None
    paid_at: float | None
    amount_received_msat: int | None
    expires_at: float
    created_at: float


class LightningStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def pay_index(self) -> int:
        row = await self.db.fetchone("SELECT value FROM state WHERE key = ?", (PAY_INDEX_KEY,))
        return int(row["value"]) if row is not None else 0

    async def advance_pay_index(self, pay_index: int) -> None:
        """Store ``pay_index`` as handled, unless a later one is stored already."""
        await self.db.execute(
            "INSERT INTO state (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE"
            " SET value = excluded.value"
            " WHERE CAST(state.value AS INTEGER) < CAST(excluded.value AS INTEGER)",
            (PAY_INDEX_KEY, str(pay_index)),
        )

    async def add_invoice(
        self,
        invoice: Invoice,
        *,
        description: str,
        created_at: float,
        session_id: str | None = None,
        zap_request: str | None = None,
    ) -> None:
        await self.db.execute(
            "INSERT INTO invoices (payment_hash, label, session_id, bolt11, amount_msat,"
            " description, zap_request, status, expires_at, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                invoice.payment_hash,
                invoice.label,
                session_id,
                invoice.bolt11,
                invoice.amount_msat,
                description,
                zap_request,
                invoice.status.value,
                invoice.expires_at,
                created_at,
            ),
        )

    async def record_status(self, invoice: Invoice, *, now: float) -> bool:
        """Copy the node's view of one of our invoices; True if the status changed."""
        changed = await self.db.execute(
            "UPDATE invoices SET status = ?, pay_index = COALESCE(?, pay_index),"
            " preimage = COALESCE(?, preimage), paid_at = COALESCE(?, paid_at),"
            " amount_received_msat = COALESCE(?, amount_received_msat), updated_at = ?"
            " WHERE payment_hash = ? AND status != ?",
            (
                invoice.status.value,
                invoice.pay_index,
                invoice.preimage,
                invoice.paid_at,
                invoice.amount_received_msat,
                now,
                invoice.payment_hash,
                invoice.status.value,
            ),
        )
        return changed > 0

    async def invoice(self, payment_hash: str) -> StoredInvoice | None:
        row = await self.db.fetchone(
            "SELECT * FROM invoices WHERE payment_hash = ?", (payment_hash,)
        )
        return _stored(row) if row is not None else None

    async def unpaid_expired(self, now: float) -> list[StoredInvoice]:
        rows = await self.db.fetchall(
            "SELECT * FROM invoices WHERE status = 'unpaid' AND expires_at <= ?", (now,)
        )
        return [_stored(r) for r in rows]


def _stored(row: Row) -> StoredInvoice:
    return StoredInvoice(
        payment_hash=row["payment_hash"],
        label=row["label"],
        session_id=row["session_id"],
        bolt11=row["bolt11"],
        amount_msat=row["amount_msat"],
        description=row["description"],
        zap_request=row["zap_request"],
        status=InvoiceStatus(row["status"]),
        pay_index=row["pay_index"],
        preimage=row["preimage"],
        paid_at=row["paid_at"],
        amount_received_msat=row["amount_received_msat"],
        expires_at=row["expires_at"],
        created_at=row["created_at"],
    )
