"""The price an LNURL offer shows (the quote itself is :mod:`bot.sessions.quotes`).

The offer's metadata shows the price of the moment (issue 8): a fixed price as it is, a
moving one as "<kind> price, now N sat/kWh, fixed when you pay". A plain (non-zap) payment's
invoice commits to sha256 of the metadata as the callback sees it; LUD-06 no longer asks
wallets to check that hash, and the text changes only when a price window ends, so a
wallet that still checks is at worst refused once, at a window boundary, before any payment.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from bot.config import ChargerConfig
from bot.config.pricing import StaticPricing
from bot.lnurl.protocol import price_text
from bot.pricing.point import PriceAt, PricePoint

__all__ = ["offer_price_text", "price_point_now"]


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
