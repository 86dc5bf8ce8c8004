from __future__ import annotations

from pathlib import Path

from bot.ports.lightning import Invoice, InvoiceStatus
from bot.store import Database
from bot.store.lightning import LightningStore

UNPAID = Invoice(
    label="l",
    bolt11="lnbcrt1...",
    payment_hash="ab" * 32,
    amount_msat=5_000,
    status=InvoiceStatus.UNPAID,
    expires_at=1_000,
)


async def test_the_cursor_starts_at_zero_and_only_moves_forward(tmp_path: Path) -> None:
    async with await Database.open(tmp_path / "z.sqlite3") as db:
        store = LightningStore(db)
        assert await store.pay_index() == 0
        await store.advance_pay_index(12)
        await store.advance_pay_index(9)  # a stale writer cannot rewind it
        assert await store.pay_index() == 12
        await store.advance_pay_index(100)
        assert await store.pay_index() == 100


async def test_invoice_bookkeeping(tmp_path: Path) -> None:
    async with await Database.open(tmp_path / "z.sqlite3") as db:
        store = LightningStore(db)
        await store.add_invoice(UNPAID, description="d", created_at=10, zap_request="{}")
        assert [i.label for i in await store.unpaid_expired(now=1_000)] == ["l"]
        assert await store.unpaid_expired(now=999) == []
        paid = Invoice(
            label="l",
            bolt11=UNPAID.bolt11,
            payment_hash=UNPAID.payment_hash,
            amount_msat=5_000,
            status=InvoiceStatus.PAID,
            expires_at=1_000,
            pay_index=3,
            paid_at=500,
            preimage="cd" * 32,
            amount_received_msat=5_001,
        )
        assert await store.record_status(paid, now=501) is True
        assert await store.record_status(paid, now=502) is False  # already known
        stored = await store.invoice(UNPAID.payment_hash)
        assert stored is not None
        assert (stored.status, stored.pay_index, stored.amount_received_msat) == (
            InvoiceStatus.PAID,
            3,
            5_001,
        )
        assert stored.zap_request == "{}" and stored.preimage == "cd" * 32
        assert await store.invoice("00" * 32) is None
        assert await store.unpaid_expired(now=2_000) == []
