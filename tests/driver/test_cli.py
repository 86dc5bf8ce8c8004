"""``zapcharge zap`` end to end: its own process, our pay site, a LocalRelay, the simnode."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.nostr.keys import generate_keys, write_key_file
from bot.store.sessions import SessionStore
from tests.driver.support import ZapWorld, zap_world
from tests.helpers import scaled

pytestmark = pytest.mark.slow


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[ZapWorld]:
    async with zap_world(tmp_path) as running:
        yield running


async def zapcharge(world: ZapWorld, *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "--config",
        str(world.site.config.path.parent / "no-such.toml"),
        "zap",
        *args,
        "--relay",
        world.relay,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), scaled(60))
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_zap_an_npub_pay_it_and_read_back_the_receipt(world: ZapWorld) -> None:
    await world.publish_profile(world.address)
    key_file = world.site.config.path.parent / "driver.key"
    driver = generate_keys()
    write_key_file(key_file, driver)
    status, out, err = await zapcharge(
        world,
        world.charger_npub,
        "--sats",
        "5000",
        "--comment",
        "from the CLI",
        "--nsec-file",
        str(key_file),
        "--pay-with-simnode",
        str(world.site.ln_dir),
        "--wait",
        str(scaled(20)),
        "--json",
    )
    assert status == 0, err
    outcome = json.loads(out)
    assert outcome["paid"] is True and outcome["receipt_id"]
    assert outcome["amount_msat"] == 5_000_000
    assert outcome["recipient_pubkey"] == world.site.config.chargers[0].keys.public_key_hex
    session = await SessionStore(world.site.db).by_payment_hash(outcome["payment_hash"])
    assert session is not None and session.payer_pubkey == driver.public_key_hex


async def test_an_invoice_only_and_a_refusal(world: ZapWorld) -> None:
    regtest = ("--network", "regtest", "--wait", "0")
    status, out, err = await zapcharge(world, world.address, "--sats", "5000", *regtest)
    assert status == 0, err
    assert "bolt11" in out and "lnbcrt" in out
    status, _, err = await zapcharge(world, world.address, "--sats", "999999", *regtest)
    assert status == 1
    assert "error:" in err and "outside what the recipient accepts" in err
    # A wallet on mainnet refuses a regtest invoice: the network is checked too.
    status, _, err = await zapcharge(world, world.address, "--sats", "5000", "--wait", "0")
    assert status == 1 and "another network (bcrt)" in err
    status, _, err = await zapcharge(world, world.address, "--sats", "0")
    assert status == 2 and "--sats" in err
