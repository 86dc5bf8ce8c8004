"""``zapcharge zap`` end to end: its own process, our pay site, a LocalRelay, the simnode."""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bot.config import load_config
from bot.config.keys import generate_keys
from bot.lightning.simnode import serve_in_process
from bot.nostr.keys import write_key_file
from bot.nostr.relay import local_relay
from bot.ocpp.simcharger import SimCharger, SimSettings
from bot.sessions.records import SessionRecords
from tests.driver.support import ZapWorld, zap_world
from tests.helpers import scaled, write_config

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
    session = await SessionRecords(world.site.db).by_payment_hash(outcome["payment_hash"])
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


async def test_zap_the_running_product_and_the_charger_starts(tmp_path: Path) -> None:
    """`zapcharge run` (its own process) with everything wired; a charger over OCPP; the
    driver's `zapcharge zap`. The zap is refused while the charger is away, then paid,
    receipted on the relay and turned into a charging session."""
    ocpp, http = _free_port(), _free_port()
    async with local_relay() as relay, serve_in_process(tmp_path / "ln"):
        path = write_config(tmp_path)
        text = path.read_text(encoding="utf-8")
        text = text.replace("ws://127.0.0.1:7777", relay)
        text = text.replace("https://charge.example.org", f"http://127.0.0.1:{http}")
        text = text.replace(
            '[ocpp]\nlisten = "127.0.0.1:0"', f'[ocpp]\nlisten = "127.0.0.1:{ocpp}"'
        )
        text = text.replace(
            '[http]\nlisten = "127.0.0.1:0"', f'[http]\nlisten = "127.0.0.1:{http}"'
        )
        path.write_text(text, encoding="utf-8")
        config = load_config(path, env={})
        charger = config.chargers[0]
        address = f"cp-001@127.0.0.1:{http}"
        zap = ("zap", address, "--sats", "5000", "--relay", relay, "--json")
        paying = ("--pay-with-simnode", str(tmp_path / "ln"), "--wait", str(scaled(20)))
        with (tmp_path / "bot.log").open("ab") as log:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "--config", str(path), "run", stderr=log
            )
        sim = SimCharger(
            SimSettings(
                f"ws://127.0.0.1:{ocpp}/ocpp",
                charger.id,
                charger.ocpp_password,
                clock_speed=20.0,
                reconnect_delay_s=0.1,
            )
        )
        try:
            await _until_serving(http)
            status, _, err = await _run(*zap, "--network", "regtest", "--wait", "0")
            assert status == 1 and "offline" in err
            sim_task = asyncio.create_task(sim.run())
            try:
                await sim.wait_for(lambda: sim.boots >= 1, scaled(10))
                sim.plug_in()
                status, out, err = await _run(*zap, *paying)
                assert status == 0, err
                outcome = json.loads(out)
                assert outcome["receipt_id"] and outcome["paid"]
                await sim.wait_for(lambda: sim.connectors[1].status == "Charging", scaled(20))
            finally:
                sim_task.cancel()
                await asyncio.gather(sim_task, return_exceptions=True)
        finally:
            process.terminate()
            await asyncio.wait_for(process.wait(), scaled(20))
    assert process.returncode == 0
    assert len(sim.commands("RemoteStartTransaction")) == 1


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _until_serving(port: int) -> None:
    deadline = time.monotonic() + scaled(20)
    async with aiohttp.ClientSession() as http:
        while True:
            try:
                async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            assert time.monotonic() < deadline, "zapcharge run never served HTTP"
            await asyncio.sleep(0.1)


async def _run(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "--config",
        "/nonexistent/relays.toml",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), scaled(60))
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()
