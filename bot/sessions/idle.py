"""Idle time of a running session, without I/O: how long the car has occupied the connector
without drawing energy (it is full, or it paused), so the quote's idle fee can be charged.

Two signals, either of which makes a session idle:

- the connector's status is ``SuspendedEV``: the car declines energy but occupies the bay;
- the power reading stays below :data:`IDLE_POWER_W` *and* the energy register did not rise
  since the previous reading. Many chargers stay in ``Charging`` when the car is full and
  only report ~0 W, so the status alone misses the commonest case; requiring the register
  to stand still keeps one low sample during ramp-up from counting.

Never idle while the connector is ``SuspendedEVSE``: then the charger (load management, a
schedule, the operator) withholds the energy, and the driver is not to pay for our pause,
even though the power reading is also zero.

Time is measured on the bot's clock, from the first idle observation to the first busy
one, and never past ``stop_requested_at`` (the driver does not pay for our stop latency).
The grace period is the quote's business (:func:`~bot.sessions.tariff.billable_idle_minutes`);
here idle minutes are only counted. The running total lives in memory and is persisted in
whole minutes as ``sessions.idle_minutes``: after a restart counting resumes from the stored
minutes and the next observation, so a crash can only lose the driver a fraction of a minute
of idle fee, never add one.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.sessions.record import Session

__all__ = ["IDLE_POWER_W", "IDLE_STATUSES", "WITHHELD_STATUS", "IdleMeter", "power_idle"]

IDLE_STATUSES = frozenset({"SuspendedEV"})
WITHHELD_STATUS = "SuspendedEVSE"  # the charger's pause, not the car's: never billed
IDLE_POWER_W = 100.0  # below this a connector is drawing no more than a car's standby load


def power_idle(power_w: float | None, energy_wh: int, previous_wh: int) -> bool | None:
    """True when the reading shows no charging, False when it shows charging, None when it
    has no power figure (then it says nothing)."""
    if power_w is None:
        return None
    return power_w < IDLE_POWER_W and energy_wh <= previous_wh


@dataclass
class _Clock:
    banked_s: float
    since: float | None = None
    by_status: bool = False
    by_power: bool = False
    withheld: bool = False

    @property
    def idle(self) -> bool:
        return (self.by_status or self.by_power) and not self.withheld


class IdleMeter:
    """Idle seconds per session, fed by connector statuses and meter readings."""

    def __init__(self) -> None:
        self._clocks: dict[str, _Clock] = {}

    def status(self, s: Session, status: str, now: float) -> None:
        clock = self._clock(s)
        clock.by_status = status in IDLE_STATUSES
        clock.withheld = status == WITHHELD_STATUS
        self._update(clock, s, now)

    def reading(self, s: Session, power_w: float | None, energy_wh: int, now: float) -> None:
        verdict = power_idle(power_w, energy_wh, s.energy_wh)
        if verdict is None:
            return
        clock = self._clock(s)
        clock.by_power = verdict
        self._update(clock, s, now)

    def minutes(self, s: Session, now: float) -> int:
        """Whole idle minutes up to ``now`` (never fewer than already stored)."""
        clock = self._clocks.get(s.id)
        if clock is None:
            return s.idle_minutes
        total = clock.banked_s
        end = _end(s, now)
        if clock.since is not None and end > clock.since:
            total += end - clock.since
        return max(s.idle_minutes, int(total // 60))

    def forget(self, session_id: str) -> None:
        self._clocks.pop(session_id, None)

    def _clock(self, s: Session) -> _Clock:
        return self._clocks.setdefault(s.id, _Clock(banked_s=60.0 * s.idle_minutes))

    def _update(self, clock: _Clock, s: Session, now: float) -> None:
        end = _end(s, now)
        if clock.idle and clock.since is None:
            clock.since = end
        elif not clock.idle and clock.since is not None:
            clock.banked_s += max(0.0, end - clock.since)
            clock.since = None


def _end(s: Session, now: float) -> float:
    return now if s.stop_requested_at is None else min(now, s.stop_requested_at)
