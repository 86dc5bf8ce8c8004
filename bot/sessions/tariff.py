"""Quotes and the money arithmetic of a session, in exact integer millisatoshi.

A :class:`Quote` freezes every number the driver agreed to when paying (prices, fees, the
fiat rate, the time); it is stored as JSON in ``sessions.quote`` and later tariff changes
never touch it. All sums are integers; the one division (Wh to kWh) rounds down, so a
driver is never charged a fraction of a msat more than the exact price.

Stopping early rather than overshooting: OCPP 1.6 has no energy cap, so the bot watches
``Energy.Active.Import.Register`` and sends RemoteStop itself. Between two samples a
charger at full power delivers ``power x sample interval`` more, and more again while the
stop takes effect; :func:`stop_threshold_wh` keeps that much in reserve.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from decimal import Decimal, InvalidOperation
from typing import Any

from bot.config import CURRENCY_PATTERN, FiatPrices, Tariff
from bot.errors import SessionError

__all__ = [
    "Cost",
    "Quote",
    "billable_idle_minutes",
    "budget_wh",
    "cost_breakdown",
    "cost_msat",
    "make_quote",
    "stop_threshold_wh",
]

QUOTE_VERSION = 1
_INT_FIELDS = (
    "created_at",
    "price_msat_per_kwh",
    "session_fee_msat",
    "per_minute_msat",
    "idle_fee_msat_per_minute",
    "idle_grace_minutes",
)
_FIAT_AMOUNTS = ("price_per_kwh", "session_fee", "per_minute", "idle_fee_per_minute")


@dataclass(frozen=True)
class Quote:
    """The price of one session as agreed at payment time. Amounts in msat."""

    created_at: int  # unix seconds
    price_msat_per_kwh: int
    session_fee_msat: int = 0
    per_minute_msat: int = 0
    idle_fee_msat_per_minute: int = 0
    idle_grace_minutes: int = 0
    fiat: FiatPrices | None = None  # the prices as set, and the rate used to convert them

    def __post_init__(self) -> None:
        if self.price_msat_per_kwh < 1:
            raise SessionError("a quote needs a price of at least 1 msat per kWh")
        if min(getattr(self, name) for name in _INT_FIELDS) < 0:
            raise SessionError("quote amounts cannot be negative")

    @property
    def currency(self) -> str:
        return self.fiat.currency if self.fiat else "msat"

    def to_json(self) -> str:
        data: dict[str, Any] = {"v": QUOTE_VERSION, **asdict(self)}
        if self.fiat is not None:
            data["fiat"] = {**data["fiat"], **{k: str(data["fiat"][k]) for k in _FIAT_AMOUNTS}}
        return json.dumps(data, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Quote:
        """Parse what :meth:`to_json` wrote; anything else raises SessionError."""
        try:
            data = json.loads(text)
        except ValueError:
            raise SessionError("quote is not JSON") from None
        if not isinstance(data, dict) or data.get("v") != QUOTE_VERSION:
            raise SessionError("quote has an unknown version")
        known = {"v", "fiat", *_INT_FIELDS}
        if set(data) - known or not set(_INT_FIELDS) <= set(data):
            raise SessionError(f"quote keys differ from {sorted(known)}")
        values = {name: _integer(data, name) for name in _INT_FIELDS}
        return cls(**values, fiat=_fiat_from(data["fiat"]) if data.get("fiat") else None)


def _integer(data: dict[str, Any], name: str) -> int:
    value = data[name]
    if isinstance(value, bool) or not isinstance(value, int):
        raise SessionError(f"quote field {name} is not an integer")
    return value


def _fiat_from(data: Any) -> FiatPrices:
    if not isinstance(data, dict) or set(data) != {"currency", "msat_per_unit", *_FIAT_AMOUNTS}:
        raise SessionError("quote field fiat is malformed")
    currency, rate = data["currency"], _integer(data, "msat_per_unit")
    if not isinstance(currency, str) or not CURRENCY_PATTERN.match(currency) or rate < 1:
        raise SessionError("quote field fiat has a bad currency or rate")
    try:
        amounts = {k: Decimal(data[k]) for k in _FIAT_AMOUNTS if isinstance(data[k], str)}
    except InvalidOperation:
        raise SessionError("quote field fiat has a bad amount") from None
    if len(amounts) != len(_FIAT_AMOUNTS):
        raise SessionError("quote field fiat amounts must be strings")
    if not all(a.is_finite() and a >= 0 for a in amounts.values()):
        raise SessionError("quote field fiat has a negative or infinite amount")
    return FiatPrices(currency=currency, msat_per_unit=rate, **amounts)


def make_quote(tariff: Tariff, now: float, msat_per_fiat_unit: int | None = None) -> Quote:
    """The quote for a payment made ``now``; a fiat tariff may be priced at a newer rate."""
    if tariff.fiat is not None and msat_per_fiat_unit is not None:
        fiat = replace(tariff.fiat, msat_per_unit=msat_per_fiat_unit)
        tariff = replace(
            tariff,
            fiat=fiat,
            price_msat_per_kwh=fiat.to_msat(fiat.price_per_kwh),
            session_fee_msat=fiat.to_msat(fiat.session_fee),
            per_minute_msat=fiat.to_msat(fiat.per_minute),
            idle_fee_msat_per_minute=fiat.to_msat(fiat.idle_fee_per_minute),
        )
    return Quote(
        created_at=int(now),
        price_msat_per_kwh=tariff.price_msat_per_kwh,
        session_fee_msat=tariff.session_fee_msat,
        per_minute_msat=tariff.per_minute_msat,
        idle_fee_msat_per_minute=tariff.idle_fee_msat_per_minute,
        idle_grace_minutes=tariff.idle_grace_minutes,
        fiat=tariff.fiat,
    )


@dataclass(frozen=True)
class Cost:
    """What a session has cost so far, by component, before any cap at the amount paid."""

    energy_msat: int
    time_msat: int
    idle_msat: int
    session_fee_msat: int

    @property
    def total_msat(self) -> int:
        return self.energy_msat + self.time_msat + self.idle_msat + self.session_fee_msat


def billable_idle_minutes(quote: Quote, idle_minutes: int) -> int:
    return max(0, idle_minutes - quote.idle_grace_minutes)


def cost_breakdown(quote: Quote, energy_wh: int, minutes: int, idle_minutes: int) -> Cost:
    """Cost of ``energy_wh`` delivered over ``minutes`` whole minutes, ``idle_minutes`` of
    them with no energy flowing (the car is full). Callers pass whole units rounded down."""
    if min(energy_wh, minutes, idle_minutes) < 0:
        raise ValueError("energy and minutes cannot be negative")
    return Cost(
        energy_msat=quote.price_msat_per_kwh * energy_wh // 1000,
        time_msat=quote.per_minute_msat * minutes,
        idle_msat=quote.idle_fee_msat_per_minute * billable_idle_minutes(quote, idle_minutes),
        session_fee_msat=quote.session_fee_msat,
    )


def cost_msat(quote: Quote, energy_wh: int, minutes: int, idle_minutes: int) -> int:
    return cost_breakdown(quote, energy_wh, minutes, idle_minutes).total_msat


def budget_wh(quote: Quote, paid_msat: int, minutes: int = 0, idle_minutes: int = 0) -> int:
    """The most Wh that ``paid_msat`` buys once the fees so far are taken: the largest E
    with ``cost_msat(quote, E, minutes, idle_minutes) <= paid_msat``; 0 if none does."""
    fees = cost_msat(quote, 0, minutes, idle_minutes)
    left = paid_msat - fees
    if left < 0:
        return 0
    # floor(price * E / 1000) <= left  <=>  price * E < 1000 * (left + 1)
    return (1000 * (left + 1) - 1) // quote.price_msat_per_kwh


def stop_threshold_wh(
    quote: Quote,
    paid_msat: int,
    max_power_w: int,
    sample_interval_s: int,
    *,
    minutes: int = 0,
    idle_minutes: int = 0,
    stop_latency_s: int = 10,
) -> int:
    """Send RemoteStop once the energy since meterStart reaches this many Wh.

    Between a reading below the threshold and the stop taking effect, at most one sample
    interval plus the stop latency passes: at full power that is the reserve kept here,
    and the time fees of that window are counted as already due. 0 means stop now.
    """
    window_s = sample_interval_s + stop_latency_s
    window_min = -(-window_s // 60)  # whole minutes that can complete within the window
    budget = budget_wh(quote, paid_msat, minutes + window_min, idle_minutes + window_min)
    reserve_wh = -(-max_power_w * window_s // 3600)
    return max(0, budget - reserve_wh)
