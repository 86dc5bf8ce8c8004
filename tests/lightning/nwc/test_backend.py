"""NwcBackend over a real LocalRelay, a NIP-47 wallet peer, and a real SQLite store."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.backoff import Backoff
from bot.errors import LightningError, LightningUnavailable
from bot.lightning.nwc.backend import NwcBackend
from bot.lightning.nwc.client import NwcClient
from bot.lightning.nwc.protocol import ErrorCode
from bot.nostr.relay import LocalRelay
from bot.ports.bolt11 import decode_invoice
from bot.ports.lightning import Invoice, InvoiceStatus, PaymentStatus
from bot.store import Database
from tests.helpers import scaled
from tests.lightning.nwc.peer import Faults, PeerWallet

FAST = Backoff(first_s=0.01, cap_s=0.05, give_up_after_s=0.5)
ZAP_REQUEST = '{"kind":9734,"content":"","tags":[["p","ab"]]}'


def make_backend(wallet: PeerWallet, db: Database, **options: float) -> NwcBackend:
    client = NwcClient(wallet.uri, info_timeout_s=scaled(2))
    settings: dict[str, float] = {
        "request_timeout_s": scaled(2),
        "pay_timeout_s": scaled(1),
        "poll_interval_s": 30.0,
        "poll_without_notifications_s": 0.2,
    } | options
    return NwcBackend(client, db, network="regtest", backoff=FAST, **settings)


@pytest.fixture
async def backend(wallet: PeerWallet, db: Database) -> AsyncIterator[NwcBackend]:
    made = make_backend(wallet, db)
    try:
        yield made
    finally:
        await made.close()


async def next_paid(stream: AsyncIterator[Invoice], within: float = 5.0) -> Invoice:
    return await asyncio.wait_for(anext(stream), scaled(within))


async def test_a_zap_invoice_commits_to_the_request_and_is_paid_once(
    backend: NwcBackend, wallet: PeerWallet
) -> None:
    invoice = await backend.create_invoice(
        21_000, "zap-1", ZAP_REQUEST, expiry_s=600, description_hash_only=True
    )
    decoded = decode_invoice(invoice.bolt11)
    assert decoded.description_hash == hashlib.sha256(ZAP_REQUEST.encode()).hexdigest()
    assert (decoded.amount_msat, invoice.status) == (21_000, InvoiceStatus.UNPAID)
    stream = backend.paid_invoices(0)
    waiting = asyncio.create_task(next_paid(stream))
    await asyncio.sleep(scaled(0.3))  # the stream's first poll is done: nothing paid yet
    await wallet.receive_payment(invoice.bolt11)
    paid = await waiting
    assert (paid.payment_hash, paid.pay_index, paid.status) == (
        invoice.payment_hash,
        1,
        InvoiceStatus.PAID,
    )
    assert paid.preimage == wallet.preimages[invoice.payment_hash]
    assert paid.amount_received_msat == 21_000
    assert "lookup_invoice" in wallet.requests  # the notification alone does not count
    await stream.aclose()  # type: ignore[attr-defined]


async def test_a_plain_invoice_carries_the_description(backend: NwcBackend) -> None:
    invoice = await backend.create_invoice(5_000, "lnurl-1", "Charger cp-001", expiry_s=60)
    assert decode_invoice(invoice.bolt11).description == "Charger cp-001"


async def test_a_duplicate_notification_is_handed_over_once(
    relay: LocalRelay, db: Database
) -> None:
    wallet = PeerWallet(relay.url, Faults(duplicate_notifications=True))
    await wallet.start()
    backend = make_backend(wallet, db)
    try:
        first = await backend.create_invoice(1_000, "a", "a", expiry_s=600)
        second = await backend.create_invoice(2_000, "b", "b", expiry_s=600)
        stream = backend.paid_invoices(0)
        await wallet.receive_payment(first.bolt11)
        await wallet.receive_payment(second.bolt11)
        got = [await next_paid(stream), await next_paid(stream)]
        assert [(i.label, i.pay_index) for i in got] == [("a", 1), ("b", 2)]
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(anext(stream), scaled(0.8))
    finally:
        await backend.close()
        await wallet.stop()


async def test_without_notifications_polling_finds_the_payment(
    relay: LocalRelay, db: Database
) -> None:
    wallet = PeerWallet(relay.url, Faults(notifications=False))
    await wallet.start()
    backend = make_backend(wallet, db)
    try:
        invoice = await backend.create_invoice(3_000, "silent", "s", expiry_s=600)
        stream = backend.paid_invoices(0)
        await wallet.receive_payment(invoice.bolt11)
        paid = await next_paid(stream)
        assert (paid.label, paid.pay_index) == ("silent", 1)
        assert "list_transactions" in wallet.requests
    finally:
        await backend.close()
        await wallet.stop()


async def test_payments_made_while_the_bot_was_down_are_handed_over_once(
    relay: LocalRelay, tmp_path: Path
) -> None:
    wallet = PeerWallet(
        relay.url, Faults(methods=("make_invoice", "lookup_invoice", "pay_invoice"))
    )
    await wallet.start()
    try:
        async with await Database.open(tmp_path / "bot.sqlite3") as db:
            before = make_backend(wallet, db)
            one = await before.create_invoice(1_000, "one", "1", expiry_s=600)
            two = await before.create_invoice(2_000, "two", "2", expiry_s=600)
            stream = before.paid_invoices(0)
            await wallet.receive_payment(one.bolt11)
            assert (await next_paid(stream)).label == "one"
            await stream.aclose()  # type: ignore[attr-defined]
            await before.close()
        await wallet.receive_payment(two.bolt11)  # the bot is down; the notice is lost
        async with await Database.open(tmp_path / "bot.sqlite3") as db:
            after = make_backend(wallet, db)
            stream = after.paid_invoices(1)  # the watcher's stored cursor
            paid = await next_paid(stream)
            assert (paid.label, paid.pay_index) == ("two", 2)
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(anext(stream), scaled(0.8))
            await after.close()
    finally:
        await wallet.stop()


async def test_a_lost_pay_response_is_pending_then_paid_and_never_sent_twice(
    backend: NwcBackend, wallet: PeerWallet
) -> None:
    refund = wallet.issue_payable(7_000)
    payment_hash = decode_invoice(refund).payment_hash
    await backend.node_info()
    # The pay_invoice answer and the lookup that follows it are both lost.
    wallet.faults.drop_responses = 2
    payment = await backend.pay(refund, max_fee_msat=100, amount_msat=7_000)
    assert payment.status is PaymentStatus.PENDING
    later = await backend.lookup_payment(payment_hash)
    assert later is not None and later.status is PaymentStatus.PAID
    assert later.preimage == wallet.preimages[payment_hash]
    assert wallet.requests.count("pay_invoice") == 1


async def test_a_paid_refund(backend: NwcBackend, wallet: PeerWallet) -> None:
    refund = wallet.issue_payable(9_000)
    payment = await backend.pay(refund, max_fee_msat=100)
    assert (payment.status, payment.amount_msat) == (PaymentStatus.PAID, 9_000)


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (ErrorCode.PAYMENT_FAILED, PaymentStatus.FAILED),
        (ErrorCode.INSUFFICIENT_BALANCE, PaymentStatus.FAILED),
        (ErrorCode.QUOTA_EXCEEDED, PaymentStatus.FAILED),
        (ErrorCode.INTERNAL, PaymentStatus.PENDING),
        (ErrorCode.OTHER, PaymentStatus.PENDING),
    ],
)
async def test_wallet_errors_map_onto_payment_results(
    backend: NwcBackend, wallet: PeerWallet, code: ErrorCode, status: PaymentStatus
) -> None:
    wallet.faults.pay_error = code
    payment = await backend.pay(wallet.issue_payable(1_000), max_fee_msat=10)
    assert payment.status is status


async def test_rate_limited_is_retry_later(backend: NwcBackend, wallet: PeerWallet) -> None:
    wallet.faults.pay_error = ErrorCode.RATE_LIMITED
    with pytest.raises(LightningUnavailable, match="RATE_LIMITED"):
        await backend.pay(wallet.issue_payable(1_000), max_fee_msat=10)


async def test_a_nip04_only_wallet_works(relay: LocalRelay, db: Database) -> None:
    wallet = PeerWallet(relay.url, Faults(nip04_only=True))
    await wallet.start()
    backend = make_backend(wallet, db)
    try:
        invoice = await backend.create_invoice(4_000, "old", "o", expiry_s=600)
        assert backend.client.encryption.value == "nip04"
        stream = backend.paid_invoices(0)
        await wallet.receive_payment(invoice.bolt11)
        assert (await next_paid(stream)).label == "old"
    finally:
        await backend.close()
        await wallet.stop()


async def test_a_wallet_without_pay_invoice_is_named(relay: LocalRelay, db: Database) -> None:
    wallet = PeerWallet(relay.url, Faults(methods=("make_invoice", "lookup_invoice")))
    await wallet.start()
    backend = make_backend(wallet, db)
    try:
        with pytest.raises(LightningError, match="lacks pay_invoice"):
            await backend.ready()
    finally:
        await backend.close()
        await wallet.stop()


async def test_a_wallet_that_is_not_there_does_not_answer(relay: LocalRelay, db: Database) -> None:
    wallet = PeerWallet(relay.url)  # never started: no info event
    backend = make_backend(wallet, db)
    try:
        with pytest.raises(LightningUnavailable, match="does not answer"):
            await backend.ready()
    finally:
        await backend.close()


async def test_wallet_down_then_up(backend: NwcBackend, wallet: PeerWallet) -> None:
    await backend.ready()
    await wallet.stop()
    with pytest.raises(LightningUnavailable, match="no response"):
        await backend.create_invoice(1_000, "down", "d", expiry_s=60)
    await wallet.start()
    invoice = await backend.create_invoice(1_000, "up", "u", expiry_s=60)
    assert invoice.amount_msat == 1_000


async def test_node_info_names_the_wallet_network(backend: NwcBackend) -> None:
    info = await backend.node_info()
    assert (info.alias, info.network, info.version) == ("peer", "regtest", "nwc")


async def test_a_payment_while_the_wallet_relay_was_down_is_found_after_it_returns(
    relay: LocalRelay, backend: NwcBackend, wallet: PeerWallet
) -> None:
    invoice = await backend.create_invoice(6_000, "gap", "g", expiry_s=600)
    stream = backend.paid_invoices(0)
    waiting = asyncio.create_task(next_paid(stream, within=20))
    await asyncio.sleep(scaled(0.3))
    relay.stop()
    await wallet.receive_payment(invoice.bolt11)  # its notification goes nowhere
    await asyncio.sleep(scaled(0.3))
    await relay.start()
    paid = await waiting  # the poll interval is 30 s here: the reconnect made it ask
    assert (paid.label, paid.pay_index) == ("gap", 1)


async def test_a_wallet_on_another_network_is_refused(relay: LocalRelay, db: Database) -> None:
    wallet = PeerWallet(relay.url, network="mainnet")  # NIP-47's name for bitcoin
    await wallet.start()
    backend = make_backend(wallet, db)
    try:
        with pytest.raises(LightningError, match="on bitcoin, \\[lightning\\] network is regtest"):
            await backend.ready()
    finally:
        await backend.close()
        await wallet.stop()


async def test_no_log_line_carries_the_connection_secret(
    backend: NwcBackend, wallet: PeerWallet, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    invoice = await backend.create_invoice(1_000, "quiet", "q", expiry_s=60)
    wallet.faults.drop_responses = 1
    with pytest.raises(LightningUnavailable):
        await backend.lookup_invoice(invoice.payment_hash)  # its answer is lost
    await backend.pay(wallet.issue_payable(1_000), max_fee_msat=10)
    assert caplog.records and wallet.client_secret not in caplog.text
