"""Contract: the bot's requests and the simulated node's answers fit Core Lightning's schemas.

Every test that uses the ``wire_log`` fixture has each exchange validated when it ends;
this module checks the validator itself, the schemas' own examples, and that one bot
session covers every method the bot uses.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import jsonschema
import pytest

from bot.lightning.cln import ClnBackend
from bot.lightning.simnode import SimnodeClient, serve_in_process
from tests.lightning.cln_schema import (
    check_wire_log,
    find_schema_dir,
    load_schema,
    validate_request,
    validator,
)

METHODS_THE_BOT_USES = {
    "getinfo",
    "invoice",
    "listinvoices",
    "waitanyinvoice",
    "decode",
    "xpay",
    "pay",
    "listpays",
}
# decodepay was removed from CLN; its examples are placeholders (see the schemas' README).
PLACEHOLDER_EXAMPLES = {"decodepay"}


def test_the_schemas_own_examples_validate() -> None:
    checked = 0
    for file in sorted(find_schema_dir().glob("*.json")):
        if file.stem in PLACEHOLDER_EXAMPLES:
            continue
        for example in load_schema(file.stem).get("examples", []):
            validate_request(example["request"]["method"], example["request"]["params"])
            checked += 1
            if "response" in example:
                validator(file.stem, request=False).validate(example["response"])
                checked += 1
    assert checked >= 60


@pytest.mark.parametrize(
    ("method", "response"),
    [
        (
            "invoice",
            {
                "payment_hash": "zz" * 32,
                "expires_at": 1,
                "created_index": 1,
                "bolt11": "x",
                "payment_secret": "00" * 32,
            },
        ),
        (
            "xpay",
            {
                "payment_preimage": "00" * 32,
                "failed_parts": 0,
                "successful_parts": 1,
                "amount_msat": "1000msat",
                "amount_sent_msat": 1000,
            },
        ),
        ("getinfo", {**load_schema("getinfo")["examples"][0]["response"], "id": "04" + "00" * 32}),
    ],
)
def test_the_custom_types_are_enforced(method: str, response: dict[str, object]) -> None:
    with pytest.raises(jsonschema.ValidationError):
        validator(method, request=False).validate(response)


def test_request_msat_accepts_units_and_unknown_parameters_are_refused() -> None:
    validate_request("invoice", {"amount_msat": "10sat", "label": "l", "description": "d"})
    validate_request("xpay", ["lnbcrt1", "1000msat"])
    with pytest.raises(jsonschema.ValidationError):
        validate_request("invoice", {"amount_msat": 1, "label": "l", "description": "d", "x": 1})


async def test_a_bot_session_uses_every_method_within_the_schemas(
    ln_dir: Path, tmp_path: Path
) -> None:
    wire = tmp_path / "contract.jsonl"
    driver_dir = tmp_path / "driver"
    async with serve_in_process(driver_dir) as driver:
        refund = await ClnBackend(driver.rpc_path).create_invoice(9_000, "r", "r", expiry_s=60)
        other = await ClnBackend(driver.rpc_path).create_invoice(8_000, "s", "s", expiry_s=60)
    async with serve_in_process(ln_dir, wire_log=wire) as node:
        backend = ClnBackend(node.rpc_path, wait_timeout_s=1)
        await backend.node_info()
        zap = await backend.create_invoice(
            21_000, "zap", '{"kind":9734}', expiry_s=60, description_hash_only=True
        )
        await SimnodeClient(ln_dir).pay_invoice(zap.bolt11)
        stream = backend.paid_invoices(0)
        await asyncio.wait_for(anext(stream), 5)
        await backend.lookup_invoice(zap.payment_hash)
        await backend.pay(refund.bolt11, max_fee_msat=1_000)
        await backend.lookup_payment(refund.payment_hash)
    async with serve_in_process(ln_dir, wire_log=wire, without=("xpay",)) as node:
        await ClnBackend(node.rpc_path).pay(other.bolt11, max_fee_msat=1_000)
    assert set(check_wire_log(wire)) >= METHODS_THE_BOT_USES
