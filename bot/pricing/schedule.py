"""Time-of-use prices: weekday and wall-clock windows in one IANA time zone.

A window is written in local wall-clock time; each day it turns into one interval of real
time ``[start, end)``. Daylight saving time makes a wall-clock time either not exist (the
skipped hour in spring) or exist twice (the repeated hour in autumn), so the rule is:

* a boundary in the **skipped hour** takes effect at the moment the clocks jump
  (in Europe/Berlin, 02:30 on the last Sunday of March means 03:00 CEST);
* a boundary in the **repeated hour** means its **first** pass (02:30 on the last Sunday of
  October means 02:30 CEST, not 02:30 CET).

So a window covering the whole repeated hour (say 01:00-03:00) lasts an hour longer that
night, a window inside the skipped hour (02:00-03:00) does not happen that night, and no
window ever applies twice. A window whose end is not after its start runs past midnight
and belongs to the day it starts on. Where windows overlap, the first one listed wins.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from bot.config.pricing import SchedulePricing, Window
from bot.pricing.point import PricePoint, require_aware

__all__ = ["ScheduleSource", "occurrence", "resolve_wall_time", "schedule_price"]


@lru_cache(maxsize=8192)  # pure, and asked for the same few days over and over
def resolve_wall_time(day: date, minute: int, zone: ZoneInfo) -> datetime:
    """The UTC instant at which the wall clock in ``zone`` reads ``minute`` after midnight."""
    naive = datetime.combine(day, time()) + timedelta(minutes=minute)
    first = naive.replace(tzinfo=zone, fold=0).astimezone(UTC)  # fold=0: the earlier pass
    if first.astimezone(zone).replace(tzinfo=None) == naive:
        return first
    # A skipped wall time: fold=1 reads it with the offset after the jump, which lands
    # before the jump; fold=0 lands after it. Bisect to the jump itself (whole seconds).
    low = naive.replace(tzinfo=zone, fold=1).astimezone(UTC)
    high = first
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        middle = middle.replace(microsecond=0)
        if middle.astimezone(zone).replace(tzinfo=None) >= naive:
            high = middle
        else:
            low = middle
    return high


def occurrence(window: Window, day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The real-time interval of ``window`` starting on local ``day`` (may be empty)."""
    end_day = day if window.end_minute > window.start_minute else day + timedelta(days=1)
    return (
        resolve_wall_time(day, window.start_minute, zone),
        resolve_wall_time(end_day, window.end_minute, zone),
    )


def _occurrences(
    config: SchedulePricing, window: Window, first: date, days: int
) -> Iterator[tuple[datetime, datetime]]:
    for offset in range(days):
        day = first + timedelta(days=offset)
        if day.weekday() in window.days:
            yield occurrence(window, day, config.zone)


def schedule_price(config: SchedulePricing, when: datetime) -> PricePoint:
    """The price at ``when``: the first window covering it, else the default price."""
    when = require_aware(when).astimezone(UTC)
    today = when.astimezone(config.zone).date()
    yesterday = today - timedelta(days=1)
    valid_until = _next_boundary(config, yesterday, when)
    for window in config.windows:
        for start, end in _occurrences(config, window, yesterday, 2):
            if start <= when < end:
                origin = (
                    f"time-of-use {window.label!r} {_clock(window.start_minute)}"
                    f"-{_clock(window.end_minute)} {config.zone.key}"
                )
                return PricePoint(window.price_msat_per_kwh, "schedule", origin, False, valid_until)
    origin = f"time-of-use default price, outside every window ({config.zone.key})"
    return PricePoint(config.default_msat_per_kwh, "schedule", origin, False, valid_until)


def _next_boundary(config: SchedulePricing, first: date, when: datetime) -> datetime | None:
    """The first window start or end after ``when``, looking a week ahead."""
    best: datetime | None = None
    for offset in range(9):
        day = first + timedelta(days=offset)
        for window in config.windows:
            if day.weekday() in window.days:
                for edge in occurrence(window, day, config.zone):
                    if edge > when and (best is None or edge < best):
                        best = edge
        # Every later window starts (and ends) after the next midnight: nothing earlier.
        if best is not None and best <= resolve_wall_time(day, 1440, config.zone):
            break
    return best.astimezone(config.zone) if best is not None else None


def _clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


class ScheduleSource:
    """A :class:`~bot.pricing.point.PriceSource` over a fixed weekly schedule (no I/O)."""

    name = "schedule"

    def __init__(self, config: SchedulePricing) -> None:
        self.config = config

    async def price_at(self, when: datetime) -> PricePoint:
        return schedule_price(self.config, when)
