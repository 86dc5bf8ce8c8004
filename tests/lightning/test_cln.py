"""ClnBackend through the real pyln-client over a unix socket, against the simulated node."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import bolt11
import pytest

from bot.backoff import Backoff
from bot.errors import LightningError, LightningUnavailable
from bot.lightning.cln import ClnBackend
from bot.lightning.simnode import SimnodeClient, SimnodeServer, read_payments, serve_in_process
from bot.ports.bolt11 import decode_invoice
from bot.ports.lightning import Invoice, InvoiceStatus, PaymentStatus
from tests.helpers import scaled
from tests.lightning.conftest import FAST_BACKOFF


async def next_paid(stream: AsyncIterator[Invoice]) -> Invoice:
    return await asyncio.wait_for(anext(stream), scaled(5))


async def test_create_pay_and_wait(backend: ClnBackend, wallet: SimnodeClient) -> None:
    invoice = await backend.create_invoice(21_000_000, "inv-1", "22 kWh at cp-001", expiry_s=600)
    decoded = bolt11.decode(invoice.bolt11)
    assert decoded.amount_msat == 21_000_000
    assert decoded.payment_hash == invoice.payment_hash
    assert decoded.description == "22 kWh at cp-001"
    assert decoded.date + decoded.expiry == invoice.expires_at and decoded.expiry == 600
    assert decoded.payment_secret and decoded.currency == "bcrt"
    assert invoice.status is InvoiceStatus.UNPAID

    stream = backend.paid_invoices(0)
    waiting = asyncio.ensure_future(next_paid(stream))
    await asyncio.sleep(0.05)  # the stream is now blocked in waitanyinvoice
    await wallet.pay_invoice(invoice.bolt11)
    paid = await waiting
    assert (paid.label, paid.pay_index, paid.status) == ("inv-1", 1, InvoiceStatus.PAID)
    assert paid.amount_received_msat == 21_000_000
    assert paid.preimage is not None
    assert hashlib.sha256(bytes.fromhex(paid.preimage)).hexdigest() == invoice.payment_hash
    assert await backend.lookup_invoice(invoice.payment_hash) == paid
    assert await backend.lookup_invoice("00" * 32) is None


async def test_zap_invoice_carries_only_the_description_hash(backend: ClnBackend) -> None:
    zap_request = '{"kind":9734,"content":"' + "⚡" * 400 + '"}'  # longer than a BOLT11 d tag
    invoice = await backend.create_invoice(
        5_000, "zap-1", zap_request, expiry_s=300, description_hash_only=True
    )
    decoded = bolt11.decode(invoice.bolt11)
    assert decoded.description is None
    assert decoded.description_hash == hashlib.sha256(zap_request.encode()).hexdigest()
    checked = await backend.decode_invoice(invoice.bolt11)
    assert checked.description_hash == decoded.description_hash
    assert (checked.amount_msat, checked.expires_at) == (5_000, invoice.expires_at)
    assert checked == decode_invoice(invoice.bolt11)  # the node and the offline decoder agree


async def test_duplicate_label_is_refused_with_900(backend: ClnBackend) -> None:
    await backend.create_invoice(1_000, "same", "one", expiry_s=60)
    with pytest.raises(LightningError) as caught:
        await backend.create_invoice(1_000, "same", "two", expiry_s=60)
    assert caught.value.code == 900
    assert not isinstance(caught.value, LightningUnavailable)


async def test_an_invoice_whose_answer_was_lost_is_found_on_retry(
    backend: ClnBackend, wallet: SimnodeClient
) -> None:
    await wallet.hangup_after("invoice")  # created, but the reply never arrives
    invoice = await backend.create_invoice(4_000, "lost", "x", expiry_s=600)
    found = await backend.lookup_invoice(invoice.payment_hash)
    assert found is not None and found.label == "lost" and found.bolt11 == invoice.bolt11


async def test_invoices_expire(ln_dir: Path, wire_log: Path) -> None:
    now = [1_800_000_000.0]
    async with serve_in_process(ln_dir, clock=lambda: now[0], wire_log=wire_log) as node:
        backend = ClnBackend(node.rpc_path, backoff=FAST_BACKOFF)
        invoice = await backend.create_invoice(1_000, "short", "soon gone", expiry_s=60)
        assert invoice.expires_at == 1_800_000_060
        now[0] += 61
        found = await backend.lookup_invoice(invoice.payment_hash)
        assert found is not None and found.status is InvoiceStatus.EXPIRED
        with pytest.raises(LightningError) as caught:
            await SimnodeClient(ln_dir).pay_invoice(invoice.bolt11)
        assert caught.value.code == 207


async def driver_invoice(driver_dir: Path, amount_msat: int, label: str) -> str:
    """An invoice from another simulated node: the driver's own wallet."""
    async with serve_in_process(driver_dir) as driver:
        backend = ClnBackend(driver.rpc_path)
        return (await backend.create_invoice(amount_msat, label, "refund", expiry_s=600)).bolt11


async def test_refund_payment_succeeds_and_is_recorded(
    backend: ClnBackend, ln_dir: Path, tmp_path: Path
) -> None:
    bolt = await driver_invoice(tmp_path / "driver", 1_234_000, "r1")
    payment = await backend.pay(bolt, max_fee_msat=5_000)
    assert payment.status is PaymentStatus.PAID
    assert payment.amount_msat == 1_234_000
    assert (
        payment.amount_sent_msat is not None and 1_234_000 < payment.amount_sent_msat <= 1_239_000
    )
    assert payment.payment_hash == bolt11.decode(bolt).payment_hash
    assert await backend.lookup_payment(payment.payment_hash) == payment
    [made] = read_payments(ln_dir)
    assert (made.destination, made.amount_msat, made.status) == (
        bolt11.decode(bolt).payee,
        1_234_000,
        "complete",
    )
    again = await backend.pay(bolt, max_fee_msat=5_000)  # "already paid" (219) is still paid
    assert again.status is PaymentStatus.PAID
    assert len(read_payments(ln_dir)) == 1


async def test_refund_payment_fails_definitely(
    backend: ClnBackend, wallet: SimnodeClient, ln_dir: Path, tmp_path: Path
) -> None:
    bolt = await driver_invoice(tmp_path / "driver", 50_000, "r2")
    await wallet.next_pay("fail", code=205)
    payment = await backend.pay(bolt, max_fee_msat=5_000)
    assert payment.status is PaymentStatus.FAILED
    assert payment.failure is not None and "205" in payment.failure
    looked_up = await backend.lookup_payment(payment.payment_hash)
    assert looked_up is not None and looked_up.status is PaymentStatus.FAILED
    assert [p.status for p in read_payments(ln_dir)] == ["failed"]
    retried = await backend.pay(bolt, max_fee_msat=5_000)  # a definite failure may be retried
    assert retried.status is PaymentStatus.PAID


async def test_an_invoice_for_another_amount_is_not_paid(
    backend: ClnBackend, ln_dir: Path, tmp_path: Path
) -> None:
    bolt = await driver_invoice(tmp_path / "driver", 60_000, "r7")
    with pytest.raises(LightningError, match="expected 50000 msat"):
        await backend.pay(bolt, max_fee_msat=5_000, amount_msat=50_000)
    assert read_payments(ln_dir) == []
    paid = await backend.pay(bolt, max_fee_msat=5_000, amount_msat=60_000)
    assert paid.status is PaymentStatus.PAID


async def test_fee_limit_is_a_definite_failure(backend: ClnBackend, tmp_path: Path) -> None:
    bolt = await driver_invoice(tmp_path / "driver", 50_000_000, "r3")
    payment = await backend.pay(bolt, max_fee_msat=10)
    assert payment.status is PaymentStatus.FAILED
    assert await backend.lookup_payment(payment.payment_hash) is None  # nothing was sent


async def test_a_payment_whose_answer_is_lost_stays_pending(
    backend: ClnBackend, wallet: SimnodeClient, tmp_path: Path
) -> None:
    bolt = await driver_invoice(tmp_path / "driver", 70_000, "r4")
    await wallet.next_pay("pending")  # the node hangs up mid-payment
    payment = await backend.pay(bolt, max_fee_msat=5_000)
    assert payment.status is PaymentStatus.PENDING
    assert (await backend.lookup_payment(payment.payment_hash)) == payment
    await wallet.resolve_pay(payment.payment_hash, "complete")
    settled = await backend.lookup_payment(payment.payment_hash)
    assert settled is not None and settled.status is PaymentStatus.PAID


async def test_a_pending_payment_can_end_failed(
    backend: ClnBackend, wallet: SimnodeClient, tmp_path: Path
) -> None:
    bolt = await driver_invoice(tmp_path / "driver", 70_000, "r5")
    await wallet.next_pay("pending")
    payment = await backend.pay(bolt, max_fee_msat=5_000)
    assert payment.status is PaymentStatus.PENDING
    await wallet.resolve_pay(payment.payment_hash, "failed")
    ended = await backend.lookup_payment(payment.payment_hash)
    assert ended is not None and ended.status is PaymentStatus.FAILED


async def test_falls_back_to_pay_on_a_node_without_xpay(
    ln_dir: Path, wire_log: Path, tmp_path: Path
) -> None:
    bolt = await driver_invoice(tmp_path / "driver", 9_000, "r6")
    async with serve_in_process(ln_dir, wire_log=wire_log, without=("xpay",)) as node:
        payment = await ClnBackend(node.rpc_path).pay(bolt, max_fee_msat=1_000)
    assert payment.status is PaymentStatus.PAID and payment.preimage
    assert [p.method for p in read_payments(ln_dir)] == ["pay"]


async def test_node_info_says_it_is_the_simulation(backend: ClnBackend) -> None:
    info = await backend.node_info()
    assert info.network == "regtest" and "simnode" in info.version
    assert len(info.node_id) == 66


async def test_decode_rejects_garbage(backend: ClnBackend) -> None:
    with pytest.raises(LightningError) as caught:
        await backend.decode_invoice("lnbcrt1garbage")
    assert caught.value.code == -32602


async def test_unreachable_node_is_unavailable_not_failed(tmp_path: Path) -> None:
    backend = ClnBackend(tmp_path / "nowhere" / "lightning-rpc", backoff=FAST_BACKOFF)
    with pytest.raises(LightningUnavailable):
        await backend.node_info()
    with pytest.raises(LightningUnavailable):  # nothing was sent: the caller may retry
        await backend.pay("lnbcrt1x", max_fee_msat=1)


@pytest.mark.slow
async def test_node_restart_keeps_invoices_and_the_stream_resumes(
    ln_dir: Path, wire_log: Path
) -> None:
    async with serve_in_process(ln_dir, wire_log=wire_log) as node:
        backend = ClnBackend(node.rpc_path, wait_timeout_s=1, backoff=FAST_BACKOFF)
        first = await backend.create_invoice(1_000, "before", "x", expiry_s=600)
        node_id = (await backend.node_info()).node_id
    stream = backend.paid_invoices(0)
    waiting = asyncio.ensure_future(next_paid(stream))  # retries while the node is down
    await asyncio.sleep(0.2)
    async with serve_in_process(ln_dir, wire_log=wire_log):
        assert (await backend.node_info()).node_id == node_id
        found = await backend.lookup_invoice(first.payment_hash)
        assert found is not None and found.status is InvoiceStatus.UNPAID
        second = await backend.create_invoice(2_000, "after", "y", expiry_s=600)
        await SimnodeClient(ln_dir).pay_invoice(second.bolt11)
        paid = await waiting
        assert (paid.label, paid.pay_index) == ("after", 1)
        with pytest.raises(LightningError) as caught:
            await backend.create_invoice(1_000, "before", "again", expiry_s=600)
        assert caught.value.code == 900


@pytest.mark.slow
async def test_a_call_during_a_node_outage_is_retried(ln_dir: Path, wire_log: Path) -> None:
    async with serve_in_process(ln_dir, wire_log=wire_log) as node:
        rpc_path = node.rpc_path
    backend = ClnBackend(rpc_path, backoff=Backoff(0.05, 0.2, 5.0))
    call = asyncio.ensure_future(backend.node_info())
    await asyncio.sleep(0.3)
    assert not call.done()
    async with serve_in_process(ln_dir, wire_log=wire_log):
        info = await asyncio.wait_for(call, scaled(5))
    assert info.network == "regtest"


async def test_node_fixture_serves(node: SimnodeServer) -> None:
    assert node.rpc_path.exists() and node.rpc_path.stat().st_mode & 0o077 == 0
