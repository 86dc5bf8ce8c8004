"""The simulated charger's reactions that both protocols' links share, on a charger that
is not connected (what it would send waits in its outbox)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from bot.ocpp import simwire
from bot.ocpp.simcharger import SimCharger, SimSettings


def _sim(connectors: int = 2) -> SimCharger:
    return SimCharger(SimSettings("ws://127.0.0.1:1/ocpp", "cp-1", "pw", connectors=connectors))


def _in(seconds: float) -> str:
    return datetime.fromtimestamp(time.time() + seconds, UTC).isoformat().replace("+00:00", "Z")


def test_a_reservation_is_refused_with_the_reason_a_charger_gives() -> None:
    sim = _sim()
    one, two = sim.connectors[1], sim.connectors[2]
    assert simwire.reserve(sim, None, 1, "TAG", _in(60)) == "Rejected"
    two.error_code = "GroundFailure"
    assert simwire.reserve(sim, two, 1, "TAG", _in(60)) == "Faulted"
    two.error_code, two.operative = "NoError", False
    assert simwire.reserve(sim, two, 1, "TAG", _in(60)) == "Unavailable"
    one.plugged = True  # a car there, not yet reported
    assert simwire.reserve(sim, one, 1, "TAG", _in(60)) == "Occupied"
    one.plugged = False
    assert simwire.reserve(sim, one, 1, "TAG", _in(60)) == "Accepted"
    assert one.reservation == (1, "TAG") and one.idle_status() == "Reserved"
    assert simwire.reserve(sim, one, 2, "OTHER", _in(60)) == "Occupied"  # held for another
    assert simwire.reserve(sim, one, 1, "MOVED", _in(60)) == "Accepted"  # same id: moved
    assert one.reservation == (1, "MOVED")
    assert one.free_for("moved") and not one.free_for("TAG")


def test_availability_waits_for_the_transaction_under_way() -> None:
    sim = _sim()
    assert simwire.change_availability(sim, [], operative=False) == "Rejected"
    sim.connectors[2].transaction_id = 9  # busy
    both = list(sim.connectors.values())
    assert simwire.change_availability(sim, both, operative=False) == "Scheduled"
    assert not sim.connectors[1].operative and sim.connectors[2].operative
    assert sim.connectors[2].pending_inoperative
    assert simwire.change_availability(sim, both, operative=True) == "Accepted"
    assert all(c.operative and not c.pending_inoperative for c in both)


@pytest.mark.parametrize(
    ("schedule", "watts"),
    [
        ({"charging_rate_unit": "W", "charging_schedule_period": [{"limit": 3700}]}, 3700.0),
        ({"charging_rate_unit": "A", "charging_schedule_period": [{"limit": 6}]}, 4140.0),
        ({"charging_rate_unit": "W"}, 0.0),
    ],
)
def test_a_schedules_first_limit_in_watts(schedule: dict[str, object], watts: float) -> None:
    assert simwire.power_limit_w(schedule) == watts
