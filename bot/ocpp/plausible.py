"""Which energy register readings may be billed; no I/O, shared by the protocol versions.

A charger's register is what the driver pays for, so a reading that cannot be true must
never reach a session: negative registers, a register below the transaction's meterStart
(a meter swapped or reset mid-transaction), and jumps the connector could not have
delivered at its rated power in the time since the start (a unit slip of x1000, a bit
flip, 9e15 Wh). Such a reading is kept verbatim in the meter log's ``raw`` and as an
anomaly, and billing goes on from the last plausible one.

Time since the start is the larger of the charger's own clock (its timestamps) and ours
(when the messages arrived): simulated chargers run their clock fast, real ones keep
readings queued while offline; taking the larger never refuses a true reading on either.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.ocpp.readings import parse_timestamp
from bot.ocpp.values import INT32_MAX

__all__ = ["MAX_REGISTER_WH", "Allowance", "register_problem"]

MAX_REGISTER_WH = INT32_MAX  # meterStart/meterStop are OCPP integers (32 bits) of Wh
SLACK_S = 120  # a sample taken just before its timestamp, clock skew, rounding
SLACK_FACTOR = 1.25  # a connector may draw a little above its rated power
SLACK_WH = 100


@dataclass(frozen=True)
class Allowance:
    """What one transaction's register may read: from meterStart up to the power limit."""

    meter_start_wh: int
    start_timestamp: str  # the charger's
    started_at: float  # ours
    max_power_w: int

    def most_wh(self, timestamp: str | None, now: float) -> float:
        """``timestamp`` is the charger's time of the reading; None when it sent none."""
        charger_start = parse_timestamp(self.start_timestamp)
        charger_now = None if timestamp is None else parse_timestamp(timestamp)
        elapsed = now - self.started_at
        if charger_start is not None and charger_now is not None:
            elapsed = max(elapsed, charger_now - charger_start)
        hours = (max(0.0, elapsed) + SLACK_S) / 3600
        return self.meter_start_wh + self.max_power_w * hours * SLACK_FACTOR + SLACK_WH


def register_problem(
    register_wh: float, allowance: Allowance | None, *, timestamp: str | None, now: float
) -> str | None:
    """Why ``register_wh`` must not be billed, or None when it may."""
    if not 0 <= register_wh <= MAX_REGISTER_WH:
        return f"register {register_wh:g} Wh is outside 0..{MAX_REGISTER_WH}"
    if allowance is None:
        return None
    if register_wh < allowance.meter_start_wh:
        return f"register {register_wh:g} Wh is below meterStart {allowance.meter_start_wh}"
    most = allowance.most_wh(timestamp, now)
    if register_wh > most:
        return (
            f"register {register_wh:g} Wh is more than {allowance.max_power_w} W could deliver"
            f" since meterStart {allowance.meter_start_wh} (at most {most:.0f} Wh)"
        )
    return None
