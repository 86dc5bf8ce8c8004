from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from bot.cli import main
from bot.ocpp.simcharger import SimCharger, SimSettings
from tests.helpers import scaled
from tests.ocpp.support import Site, wait_until


@asynccontextmanager
async def simulated(site: Site, **settings: Any) -> AsyncIterator[SimCharger]:
    defaults: dict[str, Any] = {
        "clock_speed": 60.0,
        "sample_interval_s": 30,
        "reconnect_delay_s": 0.1,
    }
    sim = SimCharger(SimSettings(site.url, "cp-001", site.password, **(defaults | settings)))
    task = asyncio.create_task(sim.run())
    try:
        await sim.wait_for(lambda: sim.boots >= 1, scaled(10))
        yield sim
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def statuses(site: Site, connector: int = 1) -> list[str]:
    return [s[2] for s in site.events.named("connector_status") if s[1] == connector]


def test_the_endpoint_gets_the_id_once() -> None:
    assert SimSettings("ws://h/ocpp", "cp-1", "p").endpoint == "ws://h/ocpp/cp-1"
    assert SimSettings("ws://h/ocpp/cp-1/", "cp-1", "p").endpoint == "ws://h/ocpp/cp-1"


async def test_boot_and_a_status_per_connector(site: Site) -> None:
    async with simulated(site, connectors=2) as sim:
        await wait_until(lambda: len(site.events.named("connector_status")) >= 2)
        assert sim.sent[0][0] == "BootNotification"
    assert statuses(site, 1)[0] == statuses(site, 2)[0] == "Available"


async def test_a_full_session_with_periodic_readings(site: Site) -> None:
    async with simulated(site, power_w=7200, sample_interval_s=15) as sim:
        sim.plug_in(1)
        await wait_until(lambda: "Preparing" in statuses(site))
        assert await site.central.remote_start("cp-001", 1, "TAG-OK")
        await wait_until(lambda: len(site.events.named("meter_values")) >= 2)
        transaction_id = sim.connectors[1].transaction_id
        assert transaction_id is not None
        assert await site.central.remote_start("cp-001", 1, "TAG-OK") is False  # busy
        assert await site.central.remote_stop("cp-001", transaction_id)
        await wait_until(lambda: bool(site.events.named("transaction_stopped")))
        sim.unplug(1)
        await wait_until(lambda: statuses(site)[-1] == "Available")
    samples = [s for e in site.events.named("meter_values") for s in e[3]]
    energies = [s.energy_wh for s in samples]
    assert energies == sorted(energies) and all(s.power_w == 7200 for s in samples)
    assert samples[0].soc_percent is not None and samples[0].soc_percent > 20.0
    assert statuses(site)[:4] == ["Available", "Preparing", "Preparing", "Charging"]
    assert "Finishing" in statuses(site)


async def test_an_unauthorized_start_is_ended_by_the_charger(site: Site) -> None:
    async with simulated(site) as sim:
        assert await site.central.remote_start("cp-001", 1, "NOT-PAID")
        await sim.wait_for(
            lambda: ("StopTransaction", {}) in [(a, {}) for a, _ in sim.sent], scaled(5)
        )
    (transaction,) = await site.central.transactions.open_of("cp-001") or [None]
    assert transaction is None
    assert site.events.named("transaction_stopped") == []


async def test_a_fault_stops_the_transaction(site: Site) -> None:
    async with simulated(site) as sim:
        assert await site.central.remote_start("cp-001", 1, "TAG-OK")
        await sim.wait_for(lambda: sim.connectors[1].transaction_id is not None, scaled(5))
        sim.fault(1, "GroundFailure")
        await wait_until(lambda: bool(site.events.named("transaction_stopped")))
        await wait_until(
            lambda: (
                ("cp-001", 1, "Faulted", "GroundFailure") in site.events.named("connector_status")
            )
        )
        assert await site.central.remote_start("cp-001", 1, "TAG-OK") is False
        sim.clear_fault(1)
        await wait_until(lambda: statuses(site)[-1] in ("Available", "Preparing"))
    assert site.events.named("transaction_stopped")[0]["reason"] == "Other"


async def test_the_car_leaves_by_itself_when_told_to(site: Site) -> None:
    async with simulated(site, auto_unplug_s=30) as sim:
        assert await site.central.remote_start("cp-001", 1, "TAG-OK")
        await sim.wait_for(lambda: sim.connectors[1].transaction_id is not None, scaled(5))
        transaction_id = sim.connectors[1].transaction_id
        assert transaction_id is not None
        assert await site.central.remote_stop("cp-001", transaction_id)
        await wait_until(lambda: statuses(site)[-1] == "Available")


async def test_a_charging_profile_lowers_the_power(site: Site) -> None:
    from bot.ocpp.commands import power_limit_profile

    async with simulated(site, power_w=11000) as sim:
        profile = power_limit_profile(1, 10, stack_level=0)
        profile["chargingSchedule"]["chargingRateUnit"] = "A"
        assert await site.central.set_charging_profile("cp-001", 1, profile) == "Accepted"
        assert sim.connectors[1].limit_w == pytest.approx(10 * 230 * 3)
        assert await site.central.remote_start("cp-001", 1, "TAG-OK")
        await wait_until(lambda: bool(site.events.named("meter_values")))
    assert site.events.named("meter_values")[0][3][0].power_w == 6900


@pytest.mark.slow
@pytest.mark.parametrize("ocpp", ["1.6", "2.0.1"])
async def test_the_sim_charger_command(site: Site, ocpp: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "sim-charger",
        "--ocpp",
        ocpp,
        "--url",
        site.url.rstrip("/"),
        "--id",
        "cp-001",
        "--password",
        site.password,
        "--power-w",
        "22000",
        "--clock-speed",
        "60",
        "--sample-interval",
        "30",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        await wait_until(lambda: site.central.is_online("cp-001"), within=20)
        assert site.central.protocol_of("cp-001") == ocpp
        assert await site.central.remote_start("cp-001", 1, "TAG-OK")
        await wait_until(lambda: bool(site.events.named("meter_values")), within=10)
        assert site.events.named("meter_values")[0][3][0].power_w == 22000
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(proc.communicate(), scaled(10))
    assert proc.returncode == 0, err.decode()
    assert b"simulated charger cp-001" in out
    assert f"(OCPP {ocpp})".encode() in out


def test_the_command_refuses_nonsense(capsys: pytest.CaptureFixture[str]) -> None:
    args = [
        "sim-charger",
        "--url",
        "ws://127.0.0.1:1/ocpp",
        "--id",
        "x",
        "--password",
        "p",
        "--clock-speed",
        "0",
    ]
    assert main(args) == 2
    assert "--clock-speed" in capsys.readouterr().err
