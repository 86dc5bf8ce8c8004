"""Lightning through pyln-client against the simulated node (its own process, as in production).

- invoices created per second: one caller in sequence, then 8 callers at once;
- create -> paid-notification latency: create an invoice, pay it from the wallet side, and
  time until PaymentWatcher hands it to the handler (store cursor included), p50/p99.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from bot.lightning.cln import ClnBackend
from bot.lightning.simnode import SimnodeClient, running_subprocess
from bot.lnurl.watcher import PaymentWatcher
from bot.ports.lightning import Invoice
from bot.store import Database

SEQUENTIAL = 300
CONCURRENT = 400
CALLERS = 8
ROUND_TRIPS = 200


class Arrivals:
    def __init__(self) -> None:
        self.seen: dict[str, asyncio.Future[float]] = {}

    def expect(self, payment_hash: str) -> asyncio.Future[float]:
        return self.seen.setdefault(payment_hash, asyncio.get_running_loop().create_future())

    async def invoice_paid(self, invoice: Invoice) -> None:
        self.expect(invoice.payment_hash).set_result(time.perf_counter())


async def _create_rate(backend: ClnBackend) -> tuple[float, float]:
    started = time.perf_counter()
    for i in range(SEQUENTIAL):
        await backend.create_invoice(1_000 + i, f"seq-{i}", "bench", expiry_s=3600)
    sequential = SEQUENTIAL / (time.perf_counter() - started)

    async def caller(offset: int) -> None:
        for i in range(offset, CONCURRENT, CALLERS):
            await backend.create_invoice(1_000 + i, f"par-{i}", "bench", expiry_s=3600)

    started = time.perf_counter()
    await asyncio.gather(*(caller(k) for k in range(CALLERS)))
    return sequential, CONCURRENT / (time.perf_counter() - started)


async def _latency(backend: ClnBackend, wallet: SimnodeClient, db: Database) -> dict[str, float]:
    arrivals = Arrivals()
    watcher = asyncio.ensure_future(PaymentWatcher(backend, db, arrivals).run())
    create_to_notify: list[float] = []
    pay_to_notify: list[float] = []
    try:
        for i in range(ROUND_TRIPS):
            started = time.perf_counter()
            invoice = await backend.create_invoice(21_000, f"rt-{i}", "bench", expiry_s=600)
            arrived = arrivals.expect(invoice.payment_hash)
            paying = time.perf_counter()
            await wallet.pay_invoice(invoice.bolt11)
            notified = await asyncio.wait_for(arrived, 10)
            create_to_notify.append(notified - started)
            pay_to_notify.append(notified - paying)
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
    return {
        "create_p50": _pct(create_to_notify, 50),
        "create_p99": _pct(create_to_notify, 99),
        "pay_p50": _pct(pay_to_notify, 50),
        "pay_p99": _pct(pay_to_notify, 99),
    }


def _pct(samples: list[float], percent: int) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[percent - 1] * 1000


async def run() -> None:
    with tempfile.TemporaryDirectory(prefix="zc-bench-ln-") as tmp:
        root = Path(tmp)
        async with running_subprocess(root / "ln") as node:
            backend = ClnBackend(node.rpc_path, wait_timeout_s=2)
            sequential, concurrent = await _create_rate(backend)
            db = await Database.open(root / "bot.sqlite3")
            try:
                latency = await _latency(backend, SimnodeClient(root / "ln"), db)
            finally:
                await db.close()
    print(
        f"invoices created: {sequential:,.0f}/s one caller, "
        f"{concurrent:,.0f}/s {CALLERS} callers (pyln-client -> simnode process)"
    )
    print(
        f"create -> paid notification over {ROUND_TRIPS} round trips: "
        f"p50 {latency['create_p50']:.1f} ms, p99 {latency['create_p99']:.1f} ms "
        f"(pay -> notification p50 {latency['pay_p50']:.1f} ms, p99 {latency['pay_p99']:.1f} ms)"
    )
