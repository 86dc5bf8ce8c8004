"""Time-of-use windows across both daylight saving transitions of Europe/Berlin (2024).

Spring: 2024-03-31 02:00 CET jumps to 03:00 CEST (01:00 UTC). Autumn: 2024-10-27
03:00 CEST falls back to 02:00 CET (01:00 UTC), so 02:00-03:00 happens twice.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.config.pricing import SchedulePricing, parse_pricing
from bot.pricing.schedule import ScheduleSource, resolve_wall_time, schedule_price

BERLIN = ZoneInfo("Europe/Berlin")
DEFAULT = 300_000


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def schedule(*windows: dict[str, Any]) -> SchedulePricing:
    table = {"kind": "schedule", "timezone": "Europe/Berlin", "window": list(windows)}
    config = parse_pricing("cp.toml", table, DEFAULT)
    assert isinstance(config, SchedulePricing)
    return config


def price(config: SchedulePricing, when: str) -> int:
    return schedule_price(config, utc(when)).msat_per_kwh


def test_a_wall_time_in_the_skipped_hour_means_the_jump() -> None:
    assert resolve_wall_time(date(2024, 3, 31), 2 * 60 + 30, BERLIN) == utc("2024-03-31T01:00")
    assert resolve_wall_time(date(2024, 3, 31), 2 * 60, BERLIN) == utc("2024-03-31T01:00")
    assert resolve_wall_time(date(2024, 3, 31), 3 * 60, BERLIN) == utc("2024-03-31T01:00")


def test_a_wall_time_in_the_repeated_hour_means_its_first_pass() -> None:
    assert resolve_wall_time(date(2024, 10, 27), 2 * 60 + 30, BERLIN) == utc("2024-10-27T00:30")
    assert resolve_wall_time(date(2024, 10, 27), 3 * 60, BERLIN) == utc("2024-10-27T02:00")


def test_night_window_across_the_spring_jump() -> None:
    night = schedule({"start": "22:00", "end": "06:00", "price_msat_per_kwh": 150_000})
    assert price(night, "2024-03-30T20:59") == DEFAULT  # 21:59 CET
    assert price(night, "2024-03-30T21:00") == 150_000  # 22:00 CET
    assert price(night, "2024-03-31T00:59") == 150_000  # 01:59 CET
    assert price(night, "2024-03-31T01:00") == 150_000  # 03:00 CEST
    assert price(night, "2024-03-31T03:59") == 150_000  # 05:59 CEST
    assert price(night, "2024-03-31T04:00") == DEFAULT  # 06:00 CEST: seven real hours
    point = schedule_price(night, utc("2024-03-31T00:30"))
    assert point.valid_until == utc("2024-03-31T04:00")
    assert point.valid_until is not None and point.valid_until.utcoffset() is not None
    assert not point.stale and point.source == "schedule"


def test_a_window_inside_the_skipped_hour_does_not_happen_that_night() -> None:
    gap = schedule({"start": "02:00", "end": "03:00", "price_msat_per_kwh": 100_000})
    assert price(gap, "2024-03-31T00:59:59") == DEFAULT
    assert price(gap, "2024-03-31T01:00") == DEFAULT
    assert price(gap, "2024-03-30T01:30") == 100_000  # the night before: 02:30 CET


def test_a_window_starting_in_the_skipped_hour_starts_at_the_jump() -> None:
    late = schedule({"start": "02:30", "end": "05:00", "price_msat_per_kwh": 120_000})
    assert price(late, "2024-03-31T00:59") == DEFAULT
    assert price(late, "2024-03-31T01:00") == 120_000  # 03:00 CEST, not 03:30
    assert price(late, "2024-03-31T03:00") == DEFAULT  # 05:00 CEST


def test_a_window_over_the_repeated_hour_lasts_an_hour_longer() -> None:
    cheap = schedule({"start": "01:00", "end": "03:00", "price_msat_per_kwh": 90_000})
    assert price(cheap, "2024-10-26T22:59") == DEFAULT  # 00:59 CEST
    assert price(cheap, "2024-10-26T23:00") == 90_000  # 01:00 CEST
    assert price(cheap, "2024-10-27T00:30") == 90_000  # 02:30 CEST, first pass
    assert price(cheap, "2024-10-27T01:30") == 90_000  # 02:30 CET, second pass
    assert price(cheap, "2024-10-27T02:00") == DEFAULT  # 03:00 CET: three real hours
    assert schedule_price(cheap, utc("2024-10-27T00:30")).valid_until == utc("2024-10-27T02:00")


def test_a_window_ending_in_the_repeated_hour_applies_once() -> None:
    short = schedule({"start": "02:00", "end": "02:30", "price_msat_per_kwh": 80_000})
    assert price(short, "2024-10-27T00:00") == 80_000  # 02:00 CEST
    assert price(short, "2024-10-27T00:30") == DEFAULT  # 02:30 CEST
    assert price(short, "2024-10-27T01:15") == DEFAULT  # 02:15 CET: not again


def test_weekdays_and_wrapping_day_ranges() -> None:
    peak = schedule(
        {"days": ["mon-fri"], "start": "07:00", "end": "20:00", "price_msat_per_kwh": 400_000},
        {"days": ["fri-mon"], "start": "00:00", "end": "24:00", "price_msat_per_kwh": 200_000},
    )
    assert price(peak, "2024-06-03T10:00") == 400_000  # Monday 12:00 CEST: first window wins
    assert price(peak, "2024-06-05T10:00") == 400_000  # Wednesday
    assert price(peak, "2024-06-05T20:00") == DEFAULT  # Wednesday 22:00
    assert price(peak, "2024-06-08T10:00") == 200_000  # Saturday
    assert price(peak, "2024-06-03T20:00") == 200_000  # Monday 22:00: the all-day window


def test_no_windows_means_the_default_price_without_an_end() -> None:
    point = schedule_price(schedule(), utc("2024-06-01T12:00"))
    assert point.msat_per_kwh == DEFAULT and point.valid_until is None


async def test_the_source_needs_an_aware_time() -> None:
    source = ScheduleSource(schedule())
    with pytest.raises(ValueError, match="timezone-aware"):
        await source.price_at(datetime(2024, 6, 1, 12))
    assert (await source.price_at(utc("2024-06-01T12:00"))).msat_per_kwh == DEFAULT
