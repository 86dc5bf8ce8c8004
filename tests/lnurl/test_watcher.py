"""PaymentWatcher: paid invoices reach the handler exactly once across restarts of the bot,
on Core Lightning (the simulated node) and on Nostr Wallet Connect (tests/lnurl/conftest.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from bot.lightning.simnode import SimnodeClient
from bot.lnurl.watcher import PaymentWatcher
from bot.ports.lightning import Invoice, InvoiceStatus, LightningBackend
from bot.store import Database
from bot.store.lightning import LightningStore
from tests.helpers import scaled


class Ledger:
    """A handler that is idempotent by payment_hash, as the watcher requires."""

    def __init__(self, db: Database, fail_first: bool = False) -> None:
        self.db, self.fail_first = db, fail_first
        self.calls: list[str] = []
        self.arrived = asyncio.Event()

    async def invoice_paid(self, invoice: Invoice) -> None:
        self.calls.append(invoice.label)
        await self.db.execute(
            "INSERT OR IGNORE INTO state (key, value) VALUES (?, ?)",
            (f"credited:{invoice.payment_hash}", str(invoice.amount_received_msat)),
        )
        self.arrived.set()
        if self.fail_first:
            self.fail_first = False
            raise RuntimeError("bot crashed after handling, before the cursor was stored")


async def credited(db: Database) -> int:
    rows = await db.fetchall("SELECT key FROM state WHERE key LIKE 'credited:%'")
    return len(rows)


@asynccontextmanager
async def bot(
    db_path: Path, backend: LightningBackend, ledger_fails: bool = False
) -> AsyncIterator[tuple[Database, Ledger, asyncio.Task[None]]]:
    """One run of the bot's payment side: open the store, run the watcher, stop it."""
    db = await Database.open(db_path)
    ledger = Ledger(db, fail_first=ledger_fails)
    task = asyncio.ensure_future(PaymentWatcher(backend, db, ledger).run())
    try:
        yield db, ledger, task
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await db.close()


async def wait_for_calls(ledger: Ledger, count: int) -> None:
    async def reached() -> None:
        while len(ledger.calls) < count:
            ledger.arrived.clear()
            await ledger.arrived.wait()

    await asyncio.wait_for(reached(), scaled(5))


async def test_a_payment_while_the_bot_is_down_is_delivered_once(
    backend: LightningBackend, wallet: SimnodeClient, tmp_path: Path
) -> None:
    db_path = tmp_path / "bot.sqlite3"
    one = await backend.create_invoice(1_000, "one", "x", expiry_s=600)
    two = await backend.create_invoice(2_000, "two", "y", expiry_s=600)
    async with bot(db_path, backend) as (db, ledger, _):
        await LightningStore(db).add_invoice(one, description="x", created_at=time.time())
        await wallet.pay_invoice(one.bolt11)
        await wait_for_calls(ledger, 1)
        await asyncio.sleep(0.05)  # let the cursor be stored
    await wallet.pay_invoice(two.bolt11)  # paid while the bot is stopped
    async with bot(db_path, backend) as (db, ledger, _):
        await wait_for_calls(ledger, 1)
        await asyncio.sleep(0.2)
        assert ledger.calls == ["two"]
        assert await LightningStore(db).pay_index() == 2
        assert await credited(db) == 2
        stored = await LightningStore(db).invoice(one.payment_hash)
        assert stored is not None and stored.status is InvoiceStatus.PAID
        assert stored.pay_index == 1 and stored.amount_received_msat == 1_000


async def test_a_crash_between_handler_and_cursor_redelivers_without_double_credit(
    backend: LightningBackend, wallet: SimnodeClient, tmp_path: Path
) -> None:
    db_path = tmp_path / "bot.sqlite3"
    invoice = await backend.create_invoice(3_000, "crash", "z", expiry_s=600)
    async with bot(db_path, backend, ledger_fails=True) as (db, ledger, task):
        await wallet.pay_invoice(invoice.bolt11)
        with pytest.raises(RuntimeError, match="bot crashed"):
            await asyncio.wait_for(task, scaled(5))
        assert await LightningStore(db).pay_index() == 0  # not advanced past a failure
    async with bot(db_path, backend) as (db, ledger, _):
        await wait_for_calls(ledger, 1)
        await asyncio.sleep(0.05)
        assert ledger.calls == ["crash"]  # delivered again ...
        assert await credited(db) == 1  # ... and credited once
        assert await LightningStore(db).pay_index() == 1


async def test_watcher_is_a_service(backend: LightningBackend, tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "bot.sqlite3")
    try:
        watcher = PaymentWatcher(backend, db, Ledger(db))
        assert watcher.name == "lightning-payments"
        task = asyncio.ensure_future(watcher.run())
        await asyncio.sleep(0.1)
        started = time.monotonic()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert time.monotonic() - started < scaled(2)  # bounded by waitanyinvoice's timeout
    finally:
        await db.close()
