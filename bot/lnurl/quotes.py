"""The price a payment is quoted at, and the price an LNURL offer shows.

A quote is made when the callback issues the invoice (see docs/pricing.md: that is the
price the driver's wallet showed, and it binds the whole session). With dynamic pricing
the price comes from the pricing service at that moment; the session's fees and any fiat
prices still come from the charger's ``[tariff]``, at the rate the price point used.

The offer's metadata shows the price of the moment (issue 8): a fixed price as it is, a
moving one as "<kind> price, now N sat/kWh, fixed when you pay". A plain (non-zap) payment's
invoice commits to sha256 of the metadata as the callback sees it; LUD-06 no longer asks
wallets to check that hash, and the text changes only when a price window ends, so a
wallet that still checks is at worst refused once, at a window boundary, before any payment.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime

from bot.config import ChargerConfig
from bot.lnurl.protocol import price_text
from bot.pricing.config import StaticPricing
from bot.pricing.point import PriceAt, PricePoint
from bot.sessions.tariff import Quote, make_quote

__all__ = [
    "PriceAt",
    "Quoter",
    "offer_price_text",
    "price_point_now",
    "pricing_quote",
    "static_quote",
]

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


def offer_price_text(charger: ChargerConfig, now: PricePoint | None = None) -> str:
    """The price as the LNURL metadata shows it: a fixed price in sats; a moving one named,
    with the price of the moment when ``now`` (the pricing service's point) is given."""
    pricing = charger.pricing
    if pricing is None or isinstance(pricing, StaticPricing):
        per_kwh = (
            charger.tariff.price_msat_per_kwh if pricing is None else pricing.price_msat_per_kwh
        )
        return price_text(replace(charger.tariff, price_msat_per_kwh=per_kwh))
    if now is None:
        return f"{pricing.kind} price per kWh, fixed when you pay"
    current = price_text(replace(charger.tariff, price_msat_per_kwh=now.msat_per_kwh))
    return f"{pricing.kind} price, now {current}, fixed when you pay"


async def price_point_now(
    prices: PriceAt | None, charger: ChargerConfig, now: float
) -> PricePoint | None:
    """The pricing service's price of ``now`` for a charger with a moving price, else None."""
    if prices is None or charger.pricing is None or isinstance(charger.pricing, StaticPricing):
        return None
    return await prices.price_at(charger.id, datetime.fromtimestamp(now, UTC))
