"""``zapcharge simnode`` as its own process: the wallet command, restart, payment records."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from bot.cli import main
from bot.lightning.cln import ClnBackend
from bot.lightning.simnode import running_subprocess, serve_in_process
from bot.ports.lightning import InvoiceStatus, PaymentStatus
from tests.helpers import scaled
from tests.lightning.cln_schema import check_wire_log


@pytest.mark.slow
async def test_a_separate_node_process_survives_a_restart(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ln, wire = tmp_path / "ln", tmp_path / "wire.jsonl"
    async with serve_in_process(tmp_path / "driver") as driver:
        refund = await ClnBackend(driver.rpc_path).create_invoice(7_000, "r", "r", expiry_s=600)
        driver_id = (await ClnBackend(driver.rpc_path).node_info()).node_id

    async with running_subprocess(ln, wire_log=wire) as node:
        assert "SIMULATED" in node.log_path.read_text()
        backend = ClnBackend(node.rpc_path, wait_timeout_s=1)
        invoice = await backend.create_invoice(12_000, "cli", "paid by the CLI", expiry_s=600)
        node_id = (await backend.node_info()).node_id
        argv = ["simnode", "pay", "--lightning-dir", str(ln), invoice.bolt11]
        assert await asyncio.to_thread(main, argv) == 0
        paid = await asyncio.wait_for(anext(backend.paid_invoices(0)), scaled(5))
        assert (paid.label, paid.pay_index, paid.amount_received_msat) == ("cli", 1, 12_000)
    assert node.process.returncode == 0 and not node.rpc_path.exists()

    async with running_subprocess(ln, wire_log=wire) as node:
        assert (await backend.node_info()).node_id == node_id
        found = await backend.lookup_invoice(invoice.payment_hash)
        assert found is not None and found.status is InvoiceStatus.PAID
        payment = await backend.pay(refund.bolt11, max_fee_msat=1_000)
        assert payment.status is PaymentStatus.PAID

    capsys.readouterr()
    assert main(["simnode", "payments", "--lightning-dir", str(ln), "--json"]) == 0
    [made] = json.loads(capsys.readouterr().out)
    assert (made["destination"], made["amount_msat"], made["status"]) == (
        driver_id,
        7_000,
        "complete",
    )
    assert set(check_wire_log(wire)) >= {"invoice", "waitanyinvoice", "xpay", "listinvoices"}
