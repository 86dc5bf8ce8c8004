"""The NWC backend's own rows: our invoices on the wallet and the pay_index we give them.

See ``migrations/0040_nwc.sql``. The index is assigned in one statement (MAX + 1 where the
row has none yet), so a payment confirmed twice (a notification and a poll, or two relays)
still gets exactly one number.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.ports.lightning import Invoice, InvoiceStatus
from bot.store.db import Database, Row

__all__ = ["NwcInvoiceStore", "Settlement"]


@dataclass(frozen=True)
class Settlement:
    paid_at: int
    preimage: str | None
    amount_received_msat: int


class NwcInvoiceStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, invoice: Invoice, *, created_at: int) -> None:
        await self.db.execute(
            "INSERT INTO nwc_invoices (payment_hash, label, bolt11, amount_msat, created_at,"
            " expires_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(payment_hash) DO NOTHING",
            (
                invoice.payment_hash,
                invoice.label,
                invoice.bolt11,
                invoice.amount_msat,
                created_at,
                invoice.expires_at,
            ),
        )

    async def settle(self, payment_hash: str, settlement: Settlement) -> bool:
        """Give the invoice the next pay_index unless it has one; True if it got it now."""
        changed = await self.db.execute(
            "UPDATE nwc_invoices SET pay_index ="
            " (SELECT COALESCE(MAX(pay_index), 0) + 1 FROM nwc_invoices),"
            " paid_at = ?, preimage = ?, amount_received_msat = ?"
            " WHERE payment_hash = ? AND pay_index IS NULL",
            (
                settlement.paid_at,
                settlement.preimage,
                settlement.amount_received_msat,
                payment_hash,
            ),
        )
        return changed > 0

    async def paid_after(self, pay_index: int, limit: int = 100) -> list[Invoice]:
        rows = await self.db.fetchall(
            "SELECT * FROM nwc_invoices WHERE pay_index > ? ORDER BY pay_index LIMIT ?",
            (pay_index, limit),
        )
        return [_invoice(r) for r in rows]

    async def open_invoices(self, limit: int = 500) -> list[Invoice]:
        rows = await self.db.fetchall(
            "SELECT * FROM nwc_invoices WHERE closed = 0 AND pay_index IS NULL"
            " ORDER BY created_at LIMIT ?",
            (limit,),
        )
        return [_invoice(r) for r in rows]

    async def oldest_open(self) -> int | None:
        """When the oldest invoice still polled was made (unix seconds)."""
        row = await self.db.fetchone(
            "SELECT MIN(created_at) AS t FROM nwc_invoices WHERE closed = 0 AND pay_index IS NULL"
        )
        return None if row is None or row["t"] is None else int(row["t"])

    async def get(self, payment_hash: str) -> Invoice | None:
        row = await self.db.fetchone(
            "SELECT * FROM nwc_invoices WHERE payment_hash = ?", (payment_hash,)
        )
        return None if row is None else _invoice(row)

    async def close_expired(self, before: int) -> int:
        """Stop polling invoices that expired before ``before`` and were never paid."""
        return await self.db.execute(
            "UPDATE nwc_invoices SET closed = 1"
            " WHERE closed = 0 AND pay_index IS NULL AND expires_at < ?",
            (before,),
        )


def _invoice(row: Row) -> Invoice:
    paid = row["pay_index"] is not None
    return Invoice(
        label=row["label"],
        bolt11=row["bolt11"],
        payment_hash=row["payment_hash"],
        amount_msat=int(row["amount_msat"]),
        status=InvoiceStatus.PAID if paid else InvoiceStatus.UNPAID,
        expires_at=int(row["expires_at"]),
        pay_index=row["pay_index"],
        paid_at=row["paid_at"],
        preimage=row["preimage"],
        amount_received_msat=row["amount_received_msat"],
    )
