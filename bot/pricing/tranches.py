"""Billing a session whose payments were quoted at different prices (first payment, top-ups).

The rule (docs/pricing.md): each payment buys energy at the quote taken for it; energy is
drawn from the payments in the order they were paid. This module is that rule as pure
integer arithmetic, for the session code to call with its payments and the metered energy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Tranche", "energy_cost"]


@dataclass(frozen=True)
class Tranche:
    """One payment's energy budget (msat, after fees) and the price quoted for it."""

    budget_msat: int
    msat_per_kwh: int


def _cost(energy_wh: int, msat_per_kwh: int) -> int:
    return -(-energy_wh * msat_per_kwh // 1000)  # whole msat, rounded up


def energy_cost(tranches: Sequence[Tranche], energy_wh: int) -> int:
    """What ``energy_wh`` costs, drawn from ``tranches`` in order.

    A tranche covers the whole Wh its budget pays for; energy beyond every budget (the
    overshoot between meter samples) is priced at the last quote. Never more than the
    budgets for energy they cover, so the refund is ``sum(budgets) - cost`` when positive.
    """
    if not tranches:
        raise ValueError("a session bills against at least one payment")
    remaining, total = max(0, energy_wh), 0
    for tranche in tranches:
        covered = tranche.budget_msat * 1000 // tranche.msat_per_kwh
        used = min(remaining, covered)
        total += min(_cost(used, tranche.msat_per_kwh), tranche.budget_msat)
        remaining -= used
    return total + _cost(remaining, tranches[-1].msat_per_kwh)
