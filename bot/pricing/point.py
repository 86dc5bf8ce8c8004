"""What every tariff source answers: a frozen :class:`PricePoint`, behind :class:`PriceSource`.

A price point is what a quote copies when a driver pays: the integer price in msat per
kWh, which source gave it and how (``origin``, for people), whether it was computed from
fresh data (``stale``), and until when it holds (``valid_until``). A price computed from a
fiat amount also carries that amount and the exchange rate used, so the quote can record
the rate it fixed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "MSAT_PER_BTC",
    "RECHECK_AFTER",
    "FiatPrice",
    "PriceAt",
    "PriceFeeds",
    "PricePoint",
    "PriceSource",
    "fiat_to_msat",
    "require_aware",
]

MSAT_PER_BTC = Decimal(100_000_000_000)
# A price that stands in for missing data is re-asked for this soon at the latest.
RECHECK_AFTER = timedelta(minutes=15)


@dataclass(frozen=True)
class FiatPrice:
    """A price set in a fiat currency and the rate that turned it into msat."""

    currency: str
    per_kwh: Decimal  # fiat per kWh, after factor, markup, floor and cap
    per_btc: Decimal  # the exchange rate: fiat per bitcoin, fixed in the quote

    @property
    def msat_per_unit(self) -> int:
        """The same rate as msat for one unit of fiat (the sessions quote's form), half up."""
        return int((MSAT_PER_BTC / self.per_btc).to_integral_value(rounding=ROUND_HALF_UP))

    def as_json(self) -> dict[str, str]:
        return {
            "currency": self.currency,
            "per_kwh": str(self.per_kwh),
            "per_btc": str(self.per_btc),
        }


@dataclass(frozen=True, slots=True)
class PricePoint:
    """The price of energy at one moment, and where it came from."""

    msat_per_kwh: int
    source: str  # the configured kind: static, schedule, spot or green
    origin: str  # for people: which data, which window, which formula
    stale: bool  # not from fresh data: the last good data, or the static fallback
    valid_until: datetime | None  # end of the current price window; None: no known end
    fallback: bool = False  # the static price stands in for a source without usable data
    fiat: FiatPrice | None = None

    @property
    def sat_per_kwh(self) -> Decimal:
        return Decimal(self.msat_per_kwh) / 1000

    def as_json(self) -> dict[str, Any]:
        return {
            "msat_per_kwh": self.msat_per_kwh,
            "source": self.source,
            "origin": self.origin,
            "stale": self.stale,
            "fallback": self.fallback,
            "valid_until": self.valid_until.isoformat() if self.valid_until else None,
            "fiat": self.fiat.as_json() if self.fiat else None,
        }


class PriceSource(Protocol):
    """One charger's tariff source. ``when`` must be timezone-aware."""

    name: str

    async def price_at(self, when: datetime) -> PricePoint: ...


class PriceAt(Protocol):
    """Prices of many chargers (``bot.pricing.service.PricingService``), as its users see it."""

    async def price_at(self, charger_id: str, when: datetime) -> PricePoint: ...


@runtime_checkable
class PriceFeeds(PriceAt, Protocol):
    """Prices that move with fetched data: say when they may have moved, and when the first
    fetch of every feed is over (so a status need not go out with a stand-in price)."""

    def on_change(self, listener: Callable[[], None]) -> None: ...

    async def first_round(self) -> None: ...


def fiat_to_msat(per_kwh: Decimal, per_btc: Decimal) -> int:
    """Fiat per kWh at ``per_btc`` fiat per bitcoin, as whole msat per kWh (half up)."""
    if per_btc <= 0:
        raise ValueError("an exchange rate must be positive")
    return int((per_kwh * MSAT_PER_BTC / per_btc).to_integral_value(rounding=ROUND_HALF_UP))


def require_aware(when: datetime) -> datetime:
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"a price needs a timezone-aware time, got {when.isoformat()}")
    return when
