"""NwcBackend on the simulated node's wallet service (the one ``zapcharge simnode --nwc``
runs), its fault switches, a real LocalRelay and SQLite: the money cases of issue 15."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.errors import LightningUnavailable
from bot.lightning.nwc.backend import NwcBackend
from bot.lightning.nwc.simwallet import WalletFaults
from bot.lightning.simnode import SimnodeClient, SimnodeServer, read_payments, serve_in_process
from bot.nostr.relay import LocalRelay
from bot.ports.lightning import Invoice, PaymentStatus
from bot.store import Database
from tests.helpers import scaled
from tests.lightning.nwc.backing import nwc_backend


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[SimnodeServer]:
    async with serve_in_process(tmp_path / "ln") as server:
        yield server


@pytest.fixture
def payer(tmp_path: Path, node: SimnodeServer) -> SimnodeClient:
    return SimnodeClient(tmp_path / "ln")


async def next_paid(stream: AsyncIterator[Invoice], within: float = 10.0) -> Invoice:
    return await asyncio.wait_for(anext(stream), scaled(within))


async def driver_invoice(tmp_path: Path, amount_msat: int) -> tuple[str, str]:
    """An invoice of another node (the driver's), paid by ours through the wallet."""
    async with serve_in_process(tmp_path / "driver") as driver:
        made = await SimnodeClient(tmp_path / "driver").call(
            "invoice", {"amount_msat": amount_msat, "label": "r", "description": "refund"}
        )
        del driver
    return str(made["bolt11"]), str(made["payment_hash"])


async def test_a_lost_pay_answer_is_pending_then_paid_and_paid_once(
    node: SimnodeServer, relay: LocalRelay, db: Database, tmp_path: Path
) -> None:
    bolt11, payment_hash = await driver_invoice(tmp_path, 8_000)
    faults = WalletFaults(drop_responses={"pay_invoice": 1, "lookup_invoice": 1})
    async with nwc_backend(node, relay.url, db, faults) as (backend, _):
        payment = await backend.pay(bolt11, max_fee_msat=100, amount_msat=8_000)
        assert payment.status is PaymentStatus.PENDING
        later = await backend.lookup_payment(payment_hash)
        assert later is not None and later.status is PaymentStatus.PAID
    paid = [p for p in read_payments(tmp_path / "ln") if p.payment_hash == payment_hash]
    assert [p.status for p in paid] == ["complete"]


async def test_a_payment_counts_once_despite_duplicate_notifications(
    node: SimnodeServer, relay: LocalRelay, db: Database, payer: SimnodeClient
) -> None:
    faults = WalletFaults(duplicate_notifications=True)
    async with nwc_backend(node, relay.url, db, faults) as (backend, _):
        invoice = await backend.create_invoice(2_000, "dup", "d", expiry_s=600)
        stream = backend.paid_invoices(0)
        waiting = asyncio.create_task(next_paid(stream))
        await asyncio.sleep(scaled(0.3))
        await payer.pay_invoice(invoice.bolt11)
        paid = await waiting
        assert (paid.label, paid.pay_index, paid.amount_received_msat) == ("dup", 1, 2_000)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(anext(stream), scaled(1))


async def test_without_notifications_polling_finds_the_payment(
    node: SimnodeServer, relay: LocalRelay, db: Database, payer: SimnodeClient
) -> None:
    faults = WalletFaults(no_notifications=True)
    async with nwc_backend(node, relay.url, db, faults) as (backend, _):
        invoice = await backend.create_invoice(3_000, "quiet", "q", expiry_s=600)
        stream = backend.paid_invoices(0)
        await payer.pay_invoice(invoice.bolt11)
        paid = await next_paid(stream)
        assert (paid.label, paid.pay_index) == ("quiet", 1)
        assert paid.preimage is not None


async def test_a_nip04_only_wallet(
    node: SimnodeServer, relay: LocalRelay, db: Database, payer: SimnodeClient
) -> None:
    async with nwc_backend(node, relay.url, db, WalletFaults(nip04_only=True)) as (backend, _):
        invoice = await backend.create_invoice(4_000, "old", "o", expiry_s=600)
        assert backend.client.encryption.value == "nip04"
        stream = backend.paid_invoices(0)
        await payer.pay_invoice(invoice.bolt11)
        assert (await next_paid(stream)).label == "old"


async def test_wallet_down_then_up(node: SimnodeServer, relay: LocalRelay, db: Database) -> None:
    async with nwc_backend(node, relay.url, db) as (backend, wallet):
        await backend.ready()
        await wallet.set_faults(online=False)
        with pytest.raises(LightningUnavailable):
            await backend.create_invoice(1_000, "down", "d", expiry_s=60)
        await wallet.set_faults(online=True)
        await asyncio.wait_for(wallet.ready.wait(), scaled(10))
        invoice = await backend.create_invoice(1_000, "up", "u", expiry_s=60)
        assert invoice.amount_msat == 1_000


async def test_payments_made_while_the_bot_was_down_are_handed_over_once(
    node: SimnodeServer, relay: LocalRelay, tmp_path: Path, payer: SimnodeClient
) -> None:
    async with (
        await Database.open(tmp_path / "bot.sqlite3") as db,
        nwc_backend(node, relay.url, db) as (backend, _),
    ):
        one = await backend.create_invoice(1_000, "one", "1", expiry_s=600)
        two = await backend.create_invoice(2_000, "two", "2", expiry_s=600)
        stream = backend.paid_invoices(0)
        await payer.pay_invoice(one.bolt11)
        assert (await next_paid(stream)).label == "one"
        await stream.aclose()  # type: ignore[attr-defined]
    await payer.pay_invoice(two.bolt11)  # the bot is down: nobody hears the notification
    async with (
        await Database.open(tmp_path / "bot.sqlite3") as db,
        nwc_backend(node, relay.url, db) as (backend, _),
    ):
        stream = backend.paid_invoices(1)  # the watcher's stored cursor
        paid = await next_paid(stream)
        assert (paid.label, paid.pay_index) == ("two", 2)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(anext(stream), scaled(1))


async def test_node_info_names_the_wallet_network(
    node: SimnodeServer, relay: LocalRelay, db: Database
) -> None:
    async with nwc_backend(node, relay.url, db) as (backend, _):
        assert isinstance(backend, NwcBackend)
        info = await backend.node_info()
        assert (info.network, info.version) == ("regtest", "nwc")
