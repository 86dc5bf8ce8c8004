from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.config import FiatPrices, Tariff
from bot.errors import SessionError
from bot.sessions.tariff import (
    Quote,
    budget_wh,
    cost_breakdown,
    cost_msat,
    make_quote,
    stop_threshold_wh,
)

TARIFF = Tariff("static", 250_000, 0, 1_000_000, 200_000_000)
EUR = FiatPrices(
    currency="EUR",
    msat_per_unit=1_600_000,
    price_per_kwh=Decimal("0.35"),
    session_fee=Decimal("0.50"),
    per_minute=Decimal("0.01"),
    idle_fee_per_minute=Decimal("0.10"),
)

amounts = st.integers(min_value=0, max_value=10**9)
quotes = st.builds(
    Quote,
    created_at=st.integers(min_value=0, max_value=2**40),
    price_msat_per_kwh=st.integers(min_value=1, max_value=10**8),
    session_fee_msat=st.integers(min_value=0, max_value=10**7),
    per_minute_msat=st.integers(min_value=0, max_value=10**5),
    idle_fee_msat_per_minute=st.integers(min_value=0, max_value=10**5),
    idle_grace_minutes=st.integers(min_value=0, max_value=60),
    fiat=st.none()
    | st.builds(
        FiatPrices,
        currency=st.sampled_from(["EUR", "USD", "CHF"]),
        msat_per_unit=st.integers(min_value=1, max_value=10**10),
        price_per_kwh=st.decimals(min_value=0, max_value=100, places=4),
        session_fee=st.decimals(min_value=0, max_value=100, places=2),
        per_minute=st.decimals(min_value=0, max_value=1, places=3),
        idle_fee_per_minute=st.decimals(min_value=0, max_value=1, places=3),
    ),
)


@settings(deadline=None)  # shared CI machines: no per-example time limit
@given(quotes)
def test_quote_json_round_trip(quote: Quote) -> None:
    text = quote.to_json()
    assert Quote.from_json(text) == quote
    assert Quote.from_json(text).to_json() == text  # stable: what is stored is what was agreed


def test_quote_json_keeps_fiat_amounts_exact() -> None:
    quote = make_quote(replace(TARIFF, fiat=EUR), now=1_700_000_000.7)
    data = json.loads(quote.to_json())
    assert data["fiat"]["price_per_kwh"] == "0.35"
    assert data["created_at"] == 1_700_000_000
    assert Quote.from_json(quote.to_json()).fiat == EUR


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[]",
        '{"v": 2}',
        json.dumps({"v": 1, "created_at": 1, "price_msat_per_kwh": 1}),  # keys missing
        Quote(1, 1).to_json().replace('"v":1', '"v":1,"colour":"blue"'),
        Quote(1, 5).to_json().replace('"price_msat_per_kwh":5', '"price_msat_per_kwh":true'),
        Quote(1, 5).to_json().replace('"price_msat_per_kwh":5', '"price_msat_per_kwh":5.5'),
        Quote(1, 5).to_json().replace('"price_msat_per_kwh":5', '"price_msat_per_kwh":0'),
        Quote(1, 5).to_json().replace('"session_fee_msat":0', '"session_fee_msat":-1'),
        Quote(1, 5, fiat=EUR).to_json().replace('"0.35"', "0.35"),
        Quote(1, 5, fiat=EUR).to_json().replace('"0.35"', '"abc"'),
        Quote(1, 5, fiat=EUR).to_json().replace('"0.35"', '"NaN"'),
        Quote(1, 5, fiat=EUR).to_json().replace('"0.35"', '"-0.35"'),
        Quote(1, 5, fiat=EUR).to_json().replace('"EUR"', '"euro"'),
        Quote(1, 5, fiat=EUR).to_json().replace('"msat_per_unit":1600000', '"msat_per_unit":0'),
    ],
)
def test_bad_quote_json_is_refused(text: str) -> None:
    with pytest.raises(SessionError):
        Quote.from_json(text)


def test_make_quote_copies_the_tariff() -> None:
    tariff = replace(TARIFF, session_fee_msat=5000, per_minute_msat=7, idle_fee_msat_per_minute=9)
    quote = make_quote(tariff, now=1000.9)
    assert (quote.created_at, quote.price_msat_per_kwh, quote.session_fee_msat) == (
        1000,
        250_000,
        5000,
    )
    assert (quote.per_minute_msat, quote.idle_fee_msat_per_minute) == (7, 9)
    assert quote.idle_grace_minutes == tariff.idle_grace_minutes
    assert quote.currency == "msat" and quote.fiat is None


def test_make_quote_converts_fiat_at_the_rate_of_the_moment_rounding_down() -> None:
    tariff = replace(TARIFF, fiat=EUR, price_msat_per_kwh=560_000)
    quote = make_quote(tariff, now=0, msat_per_fiat_unit=1_600_001)
    assert quote.fiat is not None and quote.fiat.msat_per_unit == 1_600_001
    assert quote.price_msat_per_kwh == 560_000  # 0.35 x 1,600,001 = 560,000.35
    assert quote.session_fee_msat == 800_000  # 0.50 x 1,600,001 = 800,000.5
    assert quote.per_minute_msat == 16_000  # 16,000.01
    assert quote.idle_fee_msat_per_minute == 160_000  # 160,000.1
    assert quote.currency == "EUR"
    # Without a new rate the tariff's own converted numbers are the quote.
    assert make_quote(tariff, now=0).price_msat_per_kwh == 560_000


def test_cost_by_hand() -> None:
    quote = Quote(0, 250_000, 1000, 100, 500, idle_grace_minutes=10)
    cost = cost_breakdown(quote, energy_wh=12_345, minutes=95, idle_minutes=25)
    assert cost.energy_msat == 3_086_250  # 12.345 kWh x 250 sat
    assert cost.time_msat == 9_500
    assert cost.idle_msat == 7_500  # 15 billable minutes after the 10 of grace
    assert cost.session_fee_msat == 1000
    assert cost.total_msat == cost_msat(quote, 12_345, 95, 25) == 3_104_250
    assert cost_msat(Quote(0, 333), 1, 0, 0) == 0  # 0.333 msat: rounded down, not up
    assert cost_msat(Quote(0, 999), 1001, 0, 0) == 999  # 999.999 msat
    with pytest.raises(ValueError, match="negative"):
        cost_msat(quote, -1, 0, 0)


@settings(deadline=None)  # shared CI machines: no per-example time limit
@given(quotes, amounts, st.integers(0, 10_000), st.integers(0, 10_000))
def test_cost_is_exact_and_never_above_the_true_price(
    quote: Quote, energy_wh: int, minutes: int, idle: int
) -> None:
    exact = (
        Fraction(quote.price_msat_per_kwh * energy_wh, 1000)
        + quote.session_fee_msat
        + quote.per_minute_msat * minutes
        + quote.idle_fee_msat_per_minute * max(0, idle - quote.idle_grace_minutes)
    )
    cost = cost_msat(quote, energy_wh, minutes, idle)
    assert isinstance(cost, int)
    assert exact - 1 < cost <= exact


@settings(deadline=None)  # shared CI machines: no per-example time limit
@given(quotes, amounts, st.integers(0, 600), st.integers(0, 600))
def test_budget_is_the_most_energy_the_money_buys(
    quote: Quote, paid: int, minutes: int, idle: int
) -> None:
    budget = budget_wh(quote, paid, minutes, idle)
    if cost_msat(quote, 0, minutes, idle) > paid:
        assert budget == 0
        return
    assert cost_msat(quote, budget, minutes, idle) <= paid
    assert cost_msat(quote, budget + 1, minutes, idle) > paid


def test_budget_in_kwh_is_paid_minus_fees_over_price() -> None:
    quote = Quote(0, 250_000, session_fee_msat=100_000)
    assert budget_wh(quote, 1_100_000) == 4000  # (1,100 - 100 sat) / 250 sat per kWh
    assert budget_wh(quote, 50_000) == 0  # the fee alone is more than was paid


@settings(deadline=None)  # shared CI machines: no per-example time limit
@given(
    quotes,
    amounts,
    st.tuples(st.integers(1, 350_000), st.integers(1, 300)),
    st.tuples(st.integers(0, 600), st.integers(0, 600)),
)
def test_stopping_at_the_threshold_never_overshoots(
    quote: Quote, paid: int, charger: tuple[int, int], elapsed: tuple[int, int]
) -> None:
    (power_w, interval_s), (minutes, idle) = charger, elapsed
    latency_s = 10
    threshold = stop_threshold_wh(
        quote, paid, power_w, interval_s, minutes=minutes, idle_minutes=idle
    )
    if threshold == 0:
        return
    # The last reading was below the threshold; then one interval and the stop latency
    # pass at full power, and the window's minutes complete.
    window_s = interval_s + latency_s
    worst_wh = threshold - 1 + Fraction(power_w * window_s, 3600)
    window_min = -(-window_s // 60)
    assert cost_msat(quote, int(worst_wh) + 1, minutes + window_min, idle + window_min) <= paid


@pytest.mark.parametrize(
    ("power_w", "interval_s"), [(11_000, 60), (22_000, 15), (3_700, 60), (150_000, 10)]
)
def test_a_simulated_charger_stops_inside_the_budget_and_close_to_it(
    power_w: int, interval_s: int
) -> None:
    quote = Quote(0, 250_000, session_fee_msat=50_000, per_minute_msat=100)
    paid = 10_000_000  # 10,000 sat: about 40 kWh
    latency_s = 10
    energy, seconds = Fraction(0), 0
    while True:
        seconds += interval_s
        energy += Fraction(power_w * interval_s, 3600)
        threshold = stop_threshold_wh(quote, paid, power_w, interval_s, minutes=seconds // 60)
        if int(energy) >= threshold:
            break
    seconds += latency_s
    energy += Fraction(power_w * latency_s, 3600)
    final = cost_msat(quote, int(energy), seconds // 60, 0)
    assert final <= paid
    # Early, but not wastefully: at most about two windows of energy left unused.
    unused_wh = budget_wh(quote, paid, seconds // 60) - int(energy)
    assert unused_wh <= 2 * power_w * (interval_s + latency_s) / 3600 + 1


def test_the_reserve_matches_the_notes_example() -> None:
    quote = Quote(0, 1000)  # 1 msat per Wh, so budget_wh == paid
    # 11 kW and 60 s samples overshoot about 180 Wh; with 10 s to stop, 214 Wh is kept.
    assert stop_threshold_wh(quote, 10_000, 11_000, 60, stop_latency_s=10) == 10_000 - 214
    assert stop_threshold_wh(quote, 100, 11_000, 60) == 0  # too little money: stop now


def test_time_fees_alone_can_use_up_the_money() -> None:
    quote = Quote(0, 250_000, idle_fee_msat_per_minute=1000, idle_grace_minutes=5)
    paid = 30_000
    assert stop_threshold_wh(quote, paid, 7_000, 15, idle_minutes=20) > 0
    assert stop_threshold_wh(quote, paid, 7_000, 15, idle_minutes=34) == 0  # 29 of 30 spent
