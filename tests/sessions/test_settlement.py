from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.config import FiatPrices
from bot.sessions.settlement import (
    Receipt,
    energy_used_wh,
    format_msat,
    full_refund,
    remainder_msat,
    settle,
    total_paid_msat,
)
from bot.sessions.tariff import Quote, cost_msat

QUOTE = Quote(0, 250_000, session_fee_msat=100_000, per_minute_msat=200)


def test_settle_by_hand() -> None:
    s = settle(QUOTE, paid_msat=2_000_000, energy_wh=4_000, minutes=30, idle_minutes=0)
    assert s.cost.energy_msat == 1_000_000
    assert (s.consumed_msat, s.fees_msat) == (1_006_000, 100_000)
    assert s.refund_msat == 2_000_000 - 1_006_000 - 100_000 == 894_000
    assert s.waived_msat == 0 and s.due


def test_an_overshoot_is_waived_never_charged() -> None:
    s = settle(QUOTE, paid_msat=1_000_000, energy_wh=4_000, minutes=0, idle_minutes=0)
    assert s.cost.total_msat == 1_100_000
    assert (s.fees_msat, s.consumed_msat, s.refund_msat) == (100_000, 900_000, 0)
    assert s.waived_msat == 100_000 and not s.due


@settings(deadline=None)  # shared CI machines: no per-example time limit
@given(
    st.integers(0, 10**10),
    st.integers(0, 10**6),
    st.integers(0, 10**4),
    st.integers(0, 10**4),
    st.lists(st.integers(0, 10**9), max_size=5),
)
def test_paid_always_splits_exactly(
    first: int, energy: int, minutes: int, idle: int, topups: list[int]
) -> None:
    paid = total_paid_msat(first, topups)
    s = settle(QUOTE, paid, energy, minutes, idle)
    assert s.consumed_msat + s.fees_msat + s.refund_msat == paid
    assert min(s.consumed_msat, s.fees_msat, s.refund_msat, s.waived_msat) >= 0
    assert s.consumed_msat + s.fees_msat + s.waived_msat == cost_msat(QUOTE, energy, minutes, idle)
    assert s.refund_msat == remainder_msat(paid, s.consumed_msat, s.fees_msat)


def test_full_refund_keeps_nothing() -> None:
    s = full_refund(1_234_567)
    assert (s.refund_msat, s.consumed_msat, s.fees_msat, s.waived_msat) == (1_234_567, 0, 0, 0)


def test_small_helpers() -> None:
    assert total_paid_msat(1000, [200, 30]) == 1230
    assert remainder_msat(1000, 300, 100) == 600
    assert remainder_msat(1000, 950, 100) == 0
    assert energy_used_wh(1000, 1500.9) == 500
    assert energy_used_wh(1000, 900.0) == 0  # a meter that went backwards
    with pytest.raises(ValueError, match="negative"):
        remainder_msat(-1, 0, 0)
    with pytest.raises(ValueError, match="negative"):
        total_paid_msat(5, [-1])
    assert format_msat(1_234_567) == "1,234.567 sat"
    assert format_msat(21_000) == "21 sat"
    assert format_msat(5) == "0.005 sat"


def test_receipt_has_every_number_of_the_final_dm() -> None:
    s = settle(QUOTE, paid_msat=2_000_000, energy_wh=4_000, minutes=30, idle_minutes=0)
    receipt = Receipt(
        session_id="s-1",
        charger_id="cp-001",
        connector_id=1,
        quote=QUOTE,
        settlement=s,
        energy_wh=4_000,
        started_at=1_700_000_000,
        stopped_at=1_700_001_800,
        meter_start_wh=1000,
        meter_stop_wh=5000,
        topups=1,
        stop_reason="budget_reached",
    )
    text = receipt.text()
    for needle in (
        "Session: s-1",
        "Start: 2023-11-14 22:13:20 UTC",
        "Stop: 2023-11-14 22:43:20 UTC",
        "Meter: 1000 Wh -> 5000 Wh",
        "Energy: 4.000 kWh",
        "Price: 250 sat/kWh",
        "Paid: 2,000 sat incl. 1 top-up",
        "Consumed: 1,006 sat",
        "Fees: 100 sat",
        "Refund: 894 sat",
        "Stopped by: budget reached",
    ):
        assert needle in text, needle
    assert "Waived" not in text


def test_receipt_in_fiat_shows_the_quoted_rate() -> None:
    fiat = FiatPrices("EUR", 1_600_000, Decimal("0.35"))
    quote = Quote(0, 560_000, fiat=fiat)
    s = settle(quote, 1_600_000, 1000, 0, 0)
    text = Receipt("s", "cp", 1, quote, s, 1000).text()
    assert "Price: 560 sat/kWh (0.35 EUR/kWh)" in text
    assert "Paid: 1,600 sat (~1.00 EUR)" in text
    assert "Refund: 1,040 sat (~0.65 EUR)" in text
    assert "Start: -" in text
