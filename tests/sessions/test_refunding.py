"""Refund failure then retry, through the real SessionWorkers and the real ``Refunds``: the
first payment to the driver's lightning address fails definitively at the (simulated)
node, the service waits out its backoff and tries again, and the second one is paid."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.config import Config, ListenAddress
from bot.lightning.cln import ClnBackend
from bot.lightning.simnode import SimnodeClient, read_payments, serve_in_process
from bot.lnurl.checkout import PaySite
from bot.lnurl.refunds import Refunds
from bot.lnurl.server import HttpServer
from bot.ports.bolt11 import decode_invoice
from bot.sessions.machine import Event, State
from bot.sessions.refunding import RefundRetry, refund_rows
from bot.store import Database
from bot.store.refunds import RefundStatus, RefundStore
from tests.helpers import scaled
from tests.lnurl.support import FAST_BACKOFF, DriverWallet
from tests.sessions.support import Driver, rig, wait_until

PAYER = "a" * 64


@pytest.fixture
async def wallet() -> AsyncIterator[tuple[DriverWallet, str]]:
    """The driver's LNURL-pay server on 127.0.0.1, and its lightning address."""
    served = DriverWallet()
    server = HttpServer(ListenAddress("127.0.0.1", 0), [served])
    task = asyncio.create_task(server.run())
    try:
        port = await asyncio.wait_for(server.started(), scaled(5))
        yield served, f"alice@127.0.0.1:{port}"
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_failed_refund_is_retried_after_the_backoff_and_paid_once(
    tmp_path: Path, wallet: tuple[DriverWallet, str]
) -> None:
    served, address = wallet
    driver = Driver(lud16={PAYER: address})
    ln_dir = tmp_path / "ln"
    retry = RefundRetry(base_s=0.5, cap_s=1.0)  # long enough to see the wait, short for a test
    backend = ClnBackend(SimnodeClient(ln_dir).rpc_path, wait_timeout_s=1, backoff=FAST_BACKOFF)

    def refunds(config: Config, db: Database) -> Refunds:
        return Refunds(
            db,
            backend,
            urls=PaySite.from_config(config).urls,
            currency="bcrt",
            settings=config.sessions,
            allow_loopback=True,
        )

    async with (
        serve_in_process(ln_dir),
        rig(tmp_path, driver=driver, retry=retry, refunds=refunds) as r,
    ):
        await SimnodeClient(ln_dir).next_pay("fail", code=205)  # the first refund payment
        sim = await r.charger(clock_speed=10.0)
        session = await r.paid_session(2_000_000, payer=PAYER)
        await r.reaches(session.id, State.CHARGING)
        await r.inbox.driver_command("cp-001", PAYER, "stop")
        await r.reaches(session.id, State.REFUNDING, State.CLOSED)
        rows = refund_rows(r.db)
        await wait_until(lambda: _attempts(rows, session.id, 1), what="a first, failed attempt")
        failed_at = time.monotonic()
        done = await r.reaches(session.id, State.CLOSED, within=10)
        assert time.monotonic() - failed_at >= 0.3  # it waited for its backoff
        assert done.refund_msat is not None and done.refund_msat > 0
        assert done.paid_msat == done.consumed_msat + done.fees_msat + done.refund_msat
        assert [p.status for p in read_payments(ln_dir)] == ["failed", "complete"]
        first, second = served.issued
        paid = read_payments(ln_dir)[1]
        assert (
            paid.payment_hash
            == decode_invoice(second).payment_hash
            != (decode_invoice(first).payment_hash)
        )
        assert paid.amount_msat == done.refund_msat
        refund = await rows.get(session.id)
        assert refund is not None and refund.status is RefundStatus.PAID
        assert refund.attempts == 2
        history = [event for _, _, event in await r.service.store.history(session.id)]
        assert history.count(Event.REFUND_FAILED) == 1 and history.count(Event.REFUND_PAID) == 1
        texts = r.driver.texts(PAYER)
        assert sum("refund" in t.lower() and address in t for t in texts) <= 1
        await asyncio.sleep(scaled(0.5))  # a few more ticks pay nothing more
        assert len(read_payments(ln_dir)) == 2 and len(served.issued) == 2
        assert len(sim.commands("RemoteStartTransaction")) == 1


async def _attempts(rows: RefundStore, session_id: str, count: int) -> bool:
    refund = await rows.get(session_id)
    return (
        refund is not None and refund.attempts >= count and (refund.status is RefundStatus.RELEASED)
    )
