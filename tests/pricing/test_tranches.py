from __future__ import annotations

import pytest

from bot.pricing.tranches import Tranche, energy_cost

NIGHT = Tranche(budget_msat=1_500_000, msat_per_kwh=150_000)  # buys 10 kWh
PEAK = Tranche(budget_msat=2_000_000, msat_per_kwh=400_000)  # buys 5 kWh


def test_one_payment_bills_every_kwh_at_its_quote() -> None:
    assert energy_cost([NIGHT], 0) == 0
    assert energy_cost([NIGHT], 4_000) == 600_000
    assert energy_cost([NIGHT], 1) == 150
    assert energy_cost([Tranche(1_000_000, 333_333)], 1) == 334


def test_a_top_up_pays_its_own_quote_for_the_energy_after_the_first_budget() -> None:
    assert energy_cost([NIGHT, PEAK], 10_000) == 1_500_000
    assert energy_cost([NIGHT, PEAK], 12_000) == 1_500_000 + 800_000
    assert energy_cost([NIGHT, PEAK], 15_000) == 3_500_000


def test_overshoot_beyond_every_budget_is_priced_at_the_last_quote() -> None:
    assert energy_cost([NIGHT, PEAK], 15_100) == 3_500_000 + 40_000


def test_needs_a_payment() -> None:
    with pytest.raises(ValueError, match="at least one payment"):
        energy_cost([], 10)
