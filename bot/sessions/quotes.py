"""The price a payment is quoted at: a session's :class:`~bot.sessions.tariff.Quote`.

A quote is made when the invoice is issued (see docs/pricing.md: that is the price the
driver's wallet showed, and it binds the whole session). With dynamic pricing the price
comes from the pricing service at that moment; the session's fees and any fiat prices
still come from the charger's ``[tariff]``, at the rate the price point used.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime

from bot.config import ChargerConfig
from bot.pricing.point import PriceAt
from bot.sessions.tariff import Quote, make_quote

__all__ = ["Quoter", "pricing_quote", "static_quote"]

Quoter = Callable[[ChargerConfig, float], Awaitable[Quote]]


async def static_quote(charger: ChargerConfig, now: float) -> Quote:
    """The quote of the charger's configured tariff."""
    return make_quote(charger.tariff, now)


def pricing_quote(pricing: PriceAt) -> Quoter:
    """Quotes at the pricing service's price of the moment."""

    async def quote(charger: ChargerConfig, now: float) -> Quote:
        point = await pricing.price_at(charger.id, datetime.fromtimestamp(now, UTC))
        tariff_fiat = charger.tariff.fiat
        rate = None
        if point.fiat and tariff_fiat and point.fiat.currency == tariff_fiat.currency:
            rate = point.fiat.msat_per_unit  # the fees are converted at the price's own rate
        made = make_quote(charger.tariff, now, rate)
        fiat = made.fiat
        if fiat is not None and point.fiat is not None and rate is not None:
            fiat = replace(fiat, price_per_kwh=point.fiat.per_kwh)
        return replace(made, price_msat_per_kwh=point.msat_per_kwh, fiat=fiat)

    return quote
