"""Money at the edge of the budget (bot.sessions.edge): the pure rules, then over real
parts (central system, simulated charger, SQLite): the power cap near the end, the stop of
a session whose readings are late, and the overshoot kept per session."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.audit import audit, totals
from bot.ocpp.simcharger import SimCharger, SimSettings
from bot.ocpp.simstate import SimConnector
from bot.sessions.edge import Edge, blind_reach, overshoot_wh, power_limit_w
from bot.sessions.machine import Event, State
from tests.sessions.support import Rig, rig, wait_until

EDGE = Edge(horizon_s=300, min_power_w=1_400, late_after_s=30)


@pytest.mark.parametrize(
    ("remaining_wh", "in_force", "expected"),
    [
        (5_000, None, None),  # 5 kWh at 22 kW lasts 818 s: no cap yet
        (1_800, None, None),  # 295 s at full power, but the cap would be 21.6 kW: too little
        (1_400, None, None),  # 16.8 kW: not yet a quarter off
        (1_300, None, 15_600),  # the first cap: 1,300 Wh over 300 s
        (900, None, 10_800),  # 900 Wh over 300 s
        (900, 15_600, None),  # not half of the cap in force
        (900, 10_800, None),  # in force already
        (400, 10_800, 4_800),  # halved again
        (50, 4_800, 1_400),  # never below the minimum
        (10, 1_400, None),
    ],
)
def test_the_cap_halves_as_the_budget_runs_out(
    remaining_wh: int, in_force: int | None, expected: int | None
) -> None:
    assert power_limit_w(remaining_wh, 22_000, in_force, EDGE) == expected


def test_no_cap_when_limiting_is_off() -> None:
    assert power_limit_w(100, 22_000, None, Edge(horizon_s=0)) is None


def test_blind_reach_and_overshoot() -> None:
    # 22 kW for 45 s + 10 s to stop = 336 Wh could flow unseen.
    assert blind_reach(remaining_wh=336, power_w=22_000, silent_s=45, stop_latency_s=10)
    assert not blind_reach(remaining_wh=337, power_w=22_000, silent_s=45, stop_latency_s=10)
    assert overshoot_wh(1_263, 1_000) == 263 and overshoot_wh(900, 1_000) == 0


async def test_near_the_end_the_power_is_capped(tmp_path: Path, ocpp: str) -> None:
    async with rig(tmp_path, ocpp=ocpp) as r:
        sim = await r.charger(power_w=22_000)
        session = await r.paid_session(300_000)  # 1200 Wh at 250 sat/kWh
        done = await r.reaches(session.id, State.REFUNDING, State.CLOSED, within=30)
        profiles = sim.commands(r.wire.charging_profile)
    assert profiles, "no power cap was sent"
    limits = [r.wire.profile_limit_w(p) for p in profiles]
    assert limits == sorted(limits, reverse=True) and limits[-1] >= 1_400
    assert limits[0] <= 22_000 * 3 // 4  # the first cap takes a quarter off at least
    assert done.stop_reason == Event.BUDGET_REACHED.value and 0 < done.energy_wh <= 1200


class QuietCharger(SimCharger):
    """Keeps charging but stops sending readings once ``quiet`` (a meter or modem fault)."""

    quiet = False

    def send_meter_values(self, c: SimConnector, context: str = "Sample.Periodic") -> None:
        if not self.quiet or context != "Sample.Periodic":
            super().send_meter_values(c, context)


async def test_late_readings_stop_the_session_before_the_budget_is_reached_blind(
    tmp_path: Path,
) -> None:
    # A stop latency of 10 s: the stop is asked ~60 Wh before the budget (room for a loaded CI).
    settings = {"sample_interval_s": 1, "late_readings_s": 1, "stop_latency_s": 10}
    async with rig(tmp_path, limit_power_horizon_s=0, **settings) as r:
        charger = r.config.chargers[0]
        sim = QuietCharger(
            SimSettings(
                r.url, charger.id, charger.ocpp_password, power_w=22_000, sample_interval_s=1
            )
        )
        task = asyncio.create_task(sim.run())
        try:
            await sim.wait_for(lambda: r.central.is_online(charger.id), 10)
            session = await r.paid_session(50_000)  # 200 Wh: about 33 s at 22 kW
            await r.reaches(session.id, State.CHARGING)
            await wait_until(lambda: _energy_at_least(r, session.id, 30), 20, "the first readings")
            sim.quiet = True
            done = await r.reaches(session.id, State.REFUNDING, State.CLOSED, within=60)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    assert done.stop_reason == Event.BUDGET_REACHED.value
    assert done.meter_start_wh is not None and done.meter_stop_wh is not None
    # The charger's own register at the stop: the budget was not used up unseen.
    assert done.meter_stop_wh - done.meter_start_wh < 200
    assert 0 < done.energy_wh <= 200


async def _energy_at_least(r: Rig, session_id: str, wh: int) -> bool:
    return (await r.service.store.load(session_id)).energy_wh >= wh


async def test_an_overshoot_is_recorded_shown_and_totalled(tmp_path: Path) -> None:
    # The charger keeps charging while unreachable near the end: the budget is passed.
    async with rig(tmp_path, limit_power_horizon_s=0, disconnect_timeout_s=30) as r:
        sim = await r.charger(power_w=22_000, clock_speed=60.0, sample_interval_s=60)
        session = await r.paid_session(100_000)  # 400 Wh
        await r.reaches(session.id, State.CHARGING)
        sim.disconnect(offline_s=3.0)  # 3 real s = 180 s at 22 kW: 1100 Wh unseen
        done = await r.reaches(session.id, State.REFUNDING, State.CLOSED, within=30)
        report = await audit(r.config, session.id)
        sums = await totals(r.config)
    assert done.energy_wh > 400 and done.waived_msat > 0
    assert report["overshoot_wh"] == done.energy_wh - report["budget_wh"] > 0
    assert report["budget_wh"] == 400
    assert done.paid_msat == done.consumed_msat + done.fees_msat + (done.refund_msat or 0)
    assert sums["overshoot_sessions"] == 1 and sums["overshoot_wh"] == report["overshoot_wh"]
    assert sums["waived_msat"] == done.waived_msat and sums["paid_msat"] == 100_000
