"""Day-ahead spot prices: parse the feed (pure), apply the operator's formula, convert to msat.

The feed is the common day-ahead market JSON::

    {"object": "list",
     "data": [{"start_timestamp": 1719792000000, "end_timestamp": 1719795600000,
               "marketprice": 94.2, "unit": "Eur/MWh"}, ...]}

Timestamps are unix milliseconds (UTC); slots may be hourly or 15 minutes (any length up to
a day), sorted or not, but must not overlap. ``unit`` is optional; when present it must be
``<currency>/MWh``. The price of a kWh in fiat is::

    clamp(marketprice / 1000 * factor + markup_per_kwh, floor_per_kwh, cap_per_kwh)

and its msat price is that amount at the current exchange rate (fixed in the quote).
"""

from __future__ import annotations

import logging
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from itertools import pairwise
from typing import Any

from bot.config.pricing import SpotPricing
from bot.errors import PricingError
from bot.log import charger_log
from bot.pricing.feeds import BasisLog, Feed, load_json
from bot.pricing.point import RECHECK_AFTER, FiatPrice, PricePoint, fiat_to_msat, require_aware
from bot.pricing.rate import RateProvider

__all__ = ["SpotSeries", "SpotSlot", "SpotSource", "parse_spot", "spot_fiat_per_kwh"]

log = logging.getLogger(__name__)
MAX_SLOT_MS = 86_400_000
MAX_ABS_PRICE = Decimal(100_000)  # per MWh; market limits are far inside this


@dataclass(frozen=True)
class SpotSlot:
    start: datetime
    end: datetime
    price_per_mwh: Decimal


@dataclass(frozen=True)
class SpotSeries:
    slots: tuple[SpotSlot, ...]  # sorted, not overlapping

    def at(self, when: datetime) -> SpotSlot | None:
        index = bisect_right([s.start for s in self.slots], when) - 1
        if index >= 0 and when < self.slots[index].end:
            return self.slots[index]
        return None


def _timestamp(item: dict[str, Any], name: str, index: int) -> int:
    value = item.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise PricingError(f"data[{index}].{name} is not integer milliseconds")
    return value


def _slot(item: Any, index: int, unit: str) -> SpotSlot:
    if not isinstance(item, dict):
        raise PricingError(f"data[{index}] is not an object")
    start, end = (
        _timestamp(item, "start_timestamp", index),
        _timestamp(item, "end_timestamp", index),
    )
    if not 0 < end - start <= MAX_SLOT_MS:
        raise PricingError(f"data[{index}] does not last between 0 and 24 hours")
    price = item.get("marketprice")
    if isinstance(price, bool) or not isinstance(price, int | Decimal):
        raise PricingError(f"data[{index}].marketprice is not a number")
    if abs(Decimal(price)) > MAX_ABS_PRICE:
        raise PricingError(f"data[{index}].marketprice {price} is not plausible")
    if "unit" in item and str(item["unit"]).lower() != unit.lower():
        raise PricingError(f"data[{index}].unit is {item['unit']!r}, expected {unit!r}")
    return SpotSlot(
        datetime.fromtimestamp(start / 1000, UTC),
        datetime.fromtimestamp(end / 1000, UTC),
        Decimal(price),
    )


def parse_spot(body: str, currency: str = "EUR") -> SpotSeries:
    """The slots of a day-ahead document; PricingError for anything we will not price from."""
    document = load_json(body)
    data = document.get("data") if isinstance(document, dict) else None
    if not isinstance(data, list) or not data:
        raise PricingError('expected {"data": [...]} with at least one price')
    slots = sorted((_slot(item, i, f"{currency}/MWh") for i, item in enumerate(data)), key=_start)
    for before, after in pairwise(slots):
        if after.start < before.end:
            raise PricingError(f"price slots overlap at {after.start.isoformat()}")
    return SpotSeries(tuple(slots))


def _start(slot: SpotSlot) -> datetime:
    return slot.start


def spot_fiat_per_kwh(config: SpotPricing, price_per_mwh: Decimal) -> tuple[Decimal, str]:
    """The operator's fiat price per kWh for a market price, and the formula as text."""
    raw = price_per_mwh / 1000 * config.factor + config.markup_per_kwh
    price = min(max(raw, config.floor_per_kwh), config.cap_per_kwh)
    clamp = (
        " (floor)" if raw < config.floor_per_kwh else " (cap)" if raw > config.cap_per_kwh else ""
    )
    text = (
        f"spot {price_per_mwh} {config.currency}/MWh x {config.factor}"
        f" + {config.markup_per_kwh} = {price} {config.currency}/kWh{clamp}"
    )
    return price, text


class SpotSource:
    """Prices from the day-ahead feed; falls back to last good data, then the static price."""

    name = "spot"

    def __init__(
        self,
        charger_id: str,
        config: SpotPricing,
        feed: Feed[SpotSeries],
        rate: RateProvider,
        clock: Callable[[], float],
    ) -> None:
        self.config, self.feed, self.rate, self.clock = config, feed, rate, clock
        self.basis = BasisLog(charger_log(log, charger_id))

    async def price_at(self, when: datetime) -> PricePoint:
        when = require_aware(when)
        series, rate = self.feed.data, self.rate.current(self.clock())
        slot = series.at(when) if series is not None else None
        if series is None or slot is None:
            covers = (
                f"spot data covers {series.slots[0].start:%Y-%m-%d %H:%M}Z"
                f"-{series.slots[-1].end:%Y-%m-%d %H:%M}Z only"
                if series is not None
                else "no spot data"
            )
            return self._fallback(when, f"{covers}; {self.feed.describe()}")
        if rate is None:
            return self._fallback(when, f"no usable exchange rate; {self.rate.describe()}")
        per_kwh, formula = spot_fiat_per_kwh(self.config, slot.price_per_mwh)
        stale = not self.feed.fresh or rate.stale
        origin = f"{formula} at {rate.origin}, slot {slot.start:%H:%M}-{slot.end:%H:%M}Z"
        if stale:
            origin += f"; last good data: {self.feed.describe()}, {self.rate.describe()}"
        self.basis.note("last good data" if stale else "live", origin)
        msat = max(1, fiat_to_msat(per_kwh, rate.per_btc))
        fiat = FiatPrice(self.config.currency, per_kwh, rate.per_btc)
        return PricePoint(msat, self.name, origin, stale, slot.end, fiat=fiat)

    def _fallback(self, when: datetime, why: str) -> PricePoint:
        origin = f"static fallback price: {why}"
        self.basis.note("static fallback", origin)
        price = self.config.fallback_msat_per_kwh
        return PricePoint(price, self.name, origin, True, when + RECHECK_AFTER, fallback=True)
