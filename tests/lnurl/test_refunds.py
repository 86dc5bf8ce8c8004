"""Refunds to a driver's lightning address (LUD-16 -> LUD-06), and pending refunds resumed.

The driver's side is a small LNURL-pay server on 127.0.0.1 that issues real signed
invoices; each test can make it misbehave the way a broken or hostile server would.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.config import ListenAddress
from bot.lightning.simnode import read_payments
from bot.lnurl.refunds import Refunds
from bot.lnurl.server import HttpServer
from bot.ports.bolt11 import decode_invoice
from bot.store.refunds import RefundMethod, RefundStatus
from tests.helpers import scaled
from tests.lnurl.invoices import issue_invoice
from tests.lnurl.support import (
    DRIVER_NODE,
    REFUND,
    DriverWallet,
    Site,
    pay_site,
    refunding_session,
)


@dataclass
class Driver:
    wallet: DriverWallet
    address: str


@pytest.fixture(params=["cln", "nwc"])
async def site(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Site]:
    # The same refund tests on both backends: the payments go through the same node.
    async with pay_site(tmp_path, ln_kind=request.param) as running:
        yield running


@pytest.fixture
async def driver() -> AsyncIterator[Driver]:
    wallet = DriverWallet()
    server = HttpServer(ListenAddress("127.0.0.1", 0), [wallet])
    task = asyncio.create_task(server.run())
    try:
        port = await asyncio.wait_for(server.started(), scaled(5))
        yield Driver(wallet, f"alice@127.0.0.1:{port}")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def payments(site: Site) -> list[str]:
    return [p.status for p in read_payments(site.ln_dir)]


async def test_a_refund_is_paid_to_the_lightning_address_once(site: Site, driver: Driver) -> None:
    session_id = await refunding_session(site)
    result = await site.refunds.pay_lightning_address(session_id, REFUND, driver.address)
    assert result.status is RefundStatus.PAID
    [pr] = driver.wallet.issued
    [paid] = read_payments(site.ln_dir)
    assert (paid.payment_hash, paid.amount_msat) == (decode_invoice(pr).payment_hash, REFUND)
    refund = await site.refunds.store.get(session_id)
    assert refund is not None and refund.method is RefundMethod.LUD16
    assert refund.bolt11 == pr
    again = await site.refunds.pay_lightning_address(session_id, REFUND, driver.address)
    assert again.status is RefundStatus.PAID
    assert len(driver.wallet.issued) == 1 and payments(site) == ["complete"]
    assert await site.refunds.withdraw_link(session_id, REFUND) is None


@pytest.mark.parametrize(
    ("knobs", "reason"),
    [
        ({"amount_offset": 1}, f"asks {REFUND + 1} msat"),
        ({"metadata_hashed": "[]"}, "description hash"),
        ({"min_sendable": REFUND + 1}, "outside what the recipient accepts"),
        ({"refuse": "wallet closed"}, "refused: wallet closed"),
    ],
)
async def test_a_misbehaving_address_pays_nothing_and_releases_the_claim(
    site: Site, driver: Driver, knobs: dict[str, object], reason: str
) -> None:
    for name, value in knobs.items():
        setattr(driver.wallet, name, value)
    session_id = await refunding_session(site)
    result = await site.refunds.pay_lightning_address(session_id, REFUND, driver.address)
    assert result.status is RefundStatus.RELEASED and reason in result.detail
    assert payments(site) == []
    # The fallback, a withdraw link, can take the released claim over.
    assert await site.refunds.withdraw_link(session_id, REFUND) is not None


async def test_unreachable_and_malformed_addresses_are_released(site: Site) -> None:
    session_id = await refunding_session(site)
    for address, reason in (
        ("alice@127.0.0.1:9", "cannot be reached"),
        ("not an address", "not a lightning address"),
    ):
        result = await site.refunds.pay_lightning_address(session_id, REFUND, address)
        assert result.status is RefundStatus.RELEASED and reason in result.detail
    assert payments(site) == []


async def test_private_hosts_are_refused_outside_a_loopback_deployment(
    site: Site, driver: Driver
) -> None:
    strict = Refunds(
        site.db,
        site.backend,
        urls=site.checkout.site.urls,
        currency="bcrt",
        settings=site.config.sessions,
    )
    session_id = await refunding_session(site)
    for address in (driver.address, "alice@10.0.0.1", "alice@nas"):
        result = await strict.pay_lightning_address(session_id, REFUND, address)
        assert result.status is RefundStatus.RELEASED
        assert "refusing to contact" in result.detail or "https" in result.detail
    assert driver.wallet.issued == [] and payments(site) == []


async def test_a_failed_payment_releases_and_a_pending_one_is_resumed(
    site: Site, driver: Driver
) -> None:
    session_id = await refunding_session(site)
    await site.wallet.next_pay("fail", code=205)
    failed = await site.refunds.pay_lightning_address(session_id, REFUND, driver.address)
    assert failed.status is RefundStatus.RELEASED
    await site.wallet.next_pay("pending")
    pending = await site.refunds.pay_lightning_address(session_id, REFUND, driver.address)
    assert pending.status is RefundStatus.PENDING
    assert (await site.refunds.check_pending(session_id)).status is RefundStatus.PENDING
    pr = driver.wallet.issued[-1]
    await site.wallet.resolve_pay(decode_invoice(pr).payment_hash, "complete")
    assert (await site.refunds.check_pending(session_id)).status is RefundStatus.PAID
    assert payments(site) == ["failed", "complete"]


async def test_a_pending_claim_is_resumed_after_a_crash(site: Site, driver: Driver) -> None:
    """Crashes at each point of pay_lightning_address, replayed through the store."""
    store = site.refunds.store
    session_id = await refunding_session(site)
    # Crash after the claim, before an invoice was fetched: nothing can have been paid.
    assert await store.claim_refund(session_id, REFUND, RefundMethod.LUD16) is not None
    released = await site.refunds.check_pending(session_id)
    assert released.status is RefundStatus.RELEASED
    # Crash after the invoice was recorded, before pay reached the node: pay it now.
    assert await store.claim_refund(session_id, REFUND, RefundMethod.LUD16) is not None
    pr = issue_invoice(REFUND, description="r", created_at=int(time.time()), node_key=DRIVER_NODE)
    await store.set_invoice(session_id, pr[0], decode_invoice(pr[0]).payment_hash)
    assert (await site.refunds.check_pending(session_id)).status is RefundStatus.PAID
    assert (await site.refunds.check_pending(session_id)).status is RefundStatus.PAID
    assert payments(site) == ["complete"]
