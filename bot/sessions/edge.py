"""Money at the edge of the budget, without I/O: how little may flow unwatched.

OCPP 1.6 has no energy cap: the bot stops a charge itself when the register nears the
budget (:func:`~bot.sessions.tariff.stop_threshold_wh`). While the bot is down or the
charger unreachable, nobody stops it, and what it delivers beyond the budget is the
operator's loss (the driver never pays more than paid). Two things make that loss small:

- **Lower the power near the end.** Once what is left of the budget lasts less than
  ``horizon_s`` at the connector's full power, the charge is capped (an OCPP 1.6
  TxProfile) so that the rest takes about ``horizon_s``; each time the rest shrinks to
  half, the cap is halved again, down to ``min_power_w`` (6 A on one phase: cars do not
  charge below it). A link lost or a bot killed then overshoots by at most
  ``cap x outage``, not ``full power x outage``.
- **Do not go on blind.** A session whose charger's readings are late is stopped as soon
  as the energy that could have flowed since the last reading (at the power in force)
  would reach the budget: the stop then still arrives in time.

What is left over all the same is recorded per session (:func:`overshoot_wh`).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Edge", "blind_reach", "overshoot_wh", "power_limit_w"]


@dataclass(frozen=True)
class Edge:
    """The knobs (``[sessions]`` in relays.toml)."""

    horizon_s: int = 300  # cap the power once the budget lasts less than this at full power
    min_power_w: int = 1_400
    late_after_s: int = 30  # readings this much overdue (past the sample interval) are late

    @property
    def limiting(self) -> bool:
        return self.horizon_s > 0


def power_limit_w(
    remaining_wh: int, max_power_w: int, current_limit_w: int | None, edge: Edge
) -> int | None:
    """The new power cap to send, or None to leave things as they are.

    The cap makes ``remaining_wh`` last ``horizon_s``. The first is sent once it takes a
    quarter off full power (earlier would change next to nothing; later, measured with
    bench/overshoot.py, left a kill between two readings uncapped); each next one only when
    it is at most half the cap in force, so a session sees a handful of profiles, not one
    per reading.
    """
    if not edge.limiting or max_power_w <= 0:
        return None
    wanted = max(edge.min_power_w, remaining_wh * 3600 // edge.horizon_s)
    if current_limit_w is None:
        send = 4 * wanted <= 3 * max_power_w
    else:
        send = 2 * wanted <= current_limit_w
    return int(wanted) if send and wanted < max_power_w else None


def blind_reach(*, remaining_wh: int, power_w: int, silent_s: float, stop_latency_s: float) -> bool:
    """Whether the energy that may have flowed unseen (at ``power_w`` since the last
    reading, and while a stop sent now takes effect) could reach the budget."""
    return power_w * (max(0.0, silent_s) + stop_latency_s) / 3600 >= remaining_wh


def overshoot_wh(energy_wh: int, budget_wh: int) -> int:
    """Wh delivered beyond what the payment bought: the operator's loss, never billed."""
    return max(0, energy_wh - budget_wh)
