"""Metering decisions without I/O: what a reading means for a running session.

From the stored session (quote, paid, meterStart, start time) and a new register reading,
:func:`reading_of` computes the running numbers and says whether the stop threshold is
reached (stop early rather than overshoot: :func:`~bot.sessions.tariff.stop_threshold_wh`
keeps the energy of one sample interval plus the stop latency in reserve) and whether a
progress message is due.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.ports import MeterSample
from bot.sessions.record import Session
from bot.sessions.settlement import Settlement, energy_used_wh, settle
from bot.sessions.tariff import budget_wh, stop_threshold_wh

__all__ = [
    "Reading",
    "latest_power",
    "latest_register",
    "latest_soc",
    "minutes_between",
    "reading_of",
]


@dataclass(frozen=True)
class Reading:
    energy_wh: int
    minutes: int
    settlement: Settlement  # what the session would cost if it stopped now
    threshold_wh: int
    budget_wh: int
    idle_minutes: int = 0  # as counted into the settlement (see bot.sessions.idle)

    @property
    def stop_due(self) -> bool:
        return self.energy_wh >= self.threshold_wh

    @property
    def cost_msat(self) -> int:
        return self.settlement.consumed_msat + self.settlement.fees_msat


def latest_register(samples: Sequence[MeterSample]) -> float | None:
    """The highest Energy.Active.Import.Register in a batch (samples may come unordered)."""
    values = [s.energy_wh for s in samples if s.energy_wh is not None]
    return max(values) if values else None


def latest_power(samples: Sequence[MeterSample]) -> float | None:
    """The last Power.Active.Import of a batch: what the connector draws now."""
    values = [s.power_w for s in samples if s.power_w is not None]
    return values[-1] if values else None


def latest_soc(samples: Sequence[MeterSample]) -> float | None:
    values = [s.soc_percent for s in samples if s.soc_percent is not None]
    return values[-1] if values else None


def minutes_between(started_at: float | None, now: float) -> int:
    return 0 if started_at is None else max(0, int((now - started_at) // 60))


def reading_of(
    session: Session,
    register_wh: float | None,
    now: float,
    *,
    max_power_w: int,
    sample_interval_s: int,
    stop_latency_s: int,
) -> Reading:
    """The numbers after ``register_wh`` (None: no new energy figure, time still counts)."""
    energy = session.energy_wh
    if register_wh is not None and session.meter_start_wh is not None:
        # A register never goes back within a transaction; a lower value is a glitch.
        energy = max(energy, energy_used_wh(session.meter_start_wh, register_wh))
    minutes = minutes_between(session.started_at, now)
    quote, paid = session.quote, session.paid_msat
    threshold = stop_threshold_wh(
        quote,
        paid,
        max_power_w,
        sample_interval_s,
        minutes=minutes,
        idle_minutes=session.idle_minutes,
        stop_latency_s=stop_latency_s,
    )
    return Reading(
        energy_wh=energy,
        minutes=minutes,
        settlement=settle(quote, paid, energy, minutes, session.idle_minutes),
        threshold_wh=threshold,
        budget_wh=budget_wh(quote, paid, minutes, session.idle_minutes),
        idle_minutes=session.idle_minutes,
    )
