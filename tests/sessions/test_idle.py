"""Idle time from connector statuses and meter readings, on a hand-driven clock."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from bot.sessions.idle import IDLE_POWER_W, IdleMeter, power_idle
from bot.sessions.machine import State
from bot.sessions.record import Session
from bot.sessions.settlement import Receipt, settle
from bot.sessions.tariff import Quote

T0 = 1_700_000_000.0
QUOTE = Quote(
    created_at=int(T0),
    price_msat_per_kwh=250_000,
    idle_fee_msat_per_minute=10_000,
    idle_grace_minutes=5,
)


def session(**fields: Any) -> Session:
    values: dict[str, Any] = dict(
        id="s1",
        charger_id="cp-001",
        connector_id=1,
        state=State.CHARGING,
        token="t",
        id_tag="TAG",
        payer_pubkey=None,
        payer_relays=(),
        quote=QUOTE,
        payment_hash="h",
        paid_msat=1_000_000,
        consumed_msat=0,
        fees_msat=0,
        refund_msat=None,
        waived_msat=0,
        transaction_id=1,
        meter_start_wh=0,
        meter_stop_wh=None,
        energy_wh=0,
        minutes=0,
        idle_minutes=0,
        last_meter_at=None,
        stop_reason=None,
        created_at=T0,
        updated_at=T0,
        started_at=T0,
        stopped_at=None,
        start_deadline=None,
        start_accepted_at=None,
        stop_requested_at=None,
        progress_wh=0,
        progress_at=None,
    )
    return Session(**(values | fields))


def test_power_idle_needs_low_power_and_a_standing_register() -> None:
    assert power_idle(0.0, 500, 500) is True
    assert power_idle(IDLE_POWER_W - 1, 500, 500) is True
    assert power_idle(0.0, 501, 500) is False  # energy still rose since the last reading
    assert power_idle(11_000.0, 500, 500) is False
    assert power_idle(None, 500, 500) is None  # no power figure: no verdict


def test_suspended_status_counts_until_charging_resumes() -> None:
    meter, s = IdleMeter(), session()
    meter.status(s, "SuspendedEV", T0 + 60)
    assert meter.minutes(s, T0 + 60 + 179) == 2
    meter.status(s, "Charging", T0 + 60 + 180)
    assert meter.minutes(s, T0 + 3600) == 3  # banked, no longer counting
    meter.status(s, "SuspendedEV", T0 + 4000)
    assert meter.minutes(s, T0 + 4000 + 120) == 5


def test_the_chargers_own_pause_is_never_idle_even_at_zero_watts() -> None:
    meter, s = IdleMeter(), session(energy_wh=1000)
    meter.status(s, "SuspendedEVSE", T0)  # load management holds the energy back
    meter.reading(s, 0.0, 1000, T0 + 60)
    assert meter.minutes(s, T0 + 3600) == 0
    meter.status(s, "SuspendedEV", T0 + 3600)  # now the car declines: that is idle
    assert meter.minutes(s, T0 + 3600 + 120) == 2


def test_a_full_car_at_zero_watts_counts_and_a_low_sample_while_rising_does_not() -> None:
    meter, s = IdleMeter(), session(energy_wh=1000)
    meter.reading(s, 0.0, 1010, T0 + 60)  # ramping up: the register still rose
    assert meter.minutes(s, T0 + 600) == 0
    meter.reading(s, 0.0, 1000, T0 + 600)  # full: 0 W and no new energy
    assert meter.minutes(s, T0 + 600 + 300) == 5
    meter.reading(s, None, 1000, T0 + 900)  # no power figure: nothing changes
    assert meter.minutes(s, T0 + 600 + 420) == 7
    meter.reading(s, 7_000.0, 1100, T0 + 600 + 420)
    assert meter.minutes(s, T0 + 7200) == 7


def test_either_signal_keeps_it_idle_and_counting_stops_at_the_stop_request() -> None:
    meter, s = IdleMeter(), session()
    meter.status(s, "SuspendedEV", T0)
    meter.reading(s, 0.0, 0, T0 + 30)
    meter.status(s, "Charging", T0 + 60)  # the power reading still says idle
    assert meter.minutes(s, T0 + 600) == 10
    stopping = replace(s, stop_requested_at=T0 + 300, state=State.STOPPING)
    assert meter.minutes(stopping, T0 + 600) == 5


def test_after_a_restart_counting_resumes_from_the_stored_minutes() -> None:
    meter, s = IdleMeter(), session(idle_minutes=12)
    assert meter.minutes(s, T0 + 9999) == 12  # nothing observed yet: what was stored
    meter.status(s, "SuspendedEV", T0 + 1000)
    assert meter.minutes(s, T0 + 1000 + 90) == 13
    meter.forget(s.id)
    assert meter.minutes(s, T0 + 1000 + 600) == 12


def test_the_receipt_shows_the_idle_fee_within_consumed() -> None:
    st = settle(QUOTE, 1_000_000, 2000, 40, 25)
    assert st.cost.idle_msat == 20 * 10_000
    receipt = Receipt("s1", "cp-001", 1, QUOTE, st, 2000, idle_minutes=25)
    assert "Idle: 25 min, 20 billed after 5 min grace at 10 sat/min: 200 sat" in receipt.text()
    assert st.consumed_msat == 500_000 + 200_000
    plain = Receipt("s1", "cp-001", 1, replace(QUOTE, idle_fee_msat_per_minute=0), st, 2000)
    assert "Idle" not in plain.text()
