"""Quotes at the price of the moment, and the price an offer shows."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from bot.config import ChargerConfig, FiatPrices, load_config
from bot.lnurl.quotes import offer_price_text, price_point_now
from bot.pricing.point import FiatPrice, PricePoint
from bot.pricing.service import PricingService
from bot.sessions.quotes import pricing_quote, static_quote
from tests.helpers import write_config

NOW = 1_717_243_200.0  # 2024-06-01 12:00 UTC

STATIC = """
[pricing]
kind = "static"
price_msat_per_kwh = 275500
"""
SCHEDULE = """
[pricing]
kind = "schedule"
timezone = "UTC"
default_msat_per_kwh = 300000

[[pricing.window]]
start = "00:00"
end = "06:00"
price_msat_per_kwh = 150000
"""


def charger_with(tmp_path: Path, pricing: str = "") -> ChargerConfig:
    path = write_config(tmp_path)
    identity = tmp_path / "identities" / "cp-001.toml"
    identity.write_text(identity.read_text(encoding="utf-8") + pricing, encoding="utf-8")
    return load_config(path, env={}).chargers[0]


async def test_static_quotes_and_text(tmp_path: Path) -> None:
    charger = charger_with(tmp_path)
    quote = await static_quote(charger, NOW)
    assert (quote.created_at, quote.price_msat_per_kwh) == (int(NOW), 250_000)
    assert offer_price_text(charger) == "250 sat/kWh"
    other = tmp_path / "b"
    other.mkdir()
    fixed = charger_with(other, STATIC)
    assert offer_price_text(fixed) == "275.5 sat/kWh"


async def test_a_schedule_prices_the_quote_and_is_described_in_the_offer(tmp_path: Path) -> None:
    charger = charger_with(tmp_path, SCHEDULE)
    quote = pricing_quote(PricingService.from_chargers([charger], None))
    assert (await quote(charger, NOW)).price_msat_per_kwh == 300_000
    assert (await quote(charger, NOW - 9 * 3600)).price_msat_per_kwh == 150_000  # 03:00
    assert offer_price_text(charger) == "schedule price per kWh, fixed when you pay"
    service = PricingService.from_chargers([charger], None)
    point = await price_point_now(service, charger, NOW)
    assert point is not None and point.msat_per_kwh == 300_000
    assert offer_price_text(charger, point) == "schedule price, now 300 sat/kWh, fixed when you pay"
    assert await price_point_now(None, charger, NOW) is None


@dataclass
class FixedPrice:
    point: PricePoint

    async def price_at(self, charger_id: str, when: datetime) -> PricePoint:
        del charger_id, when
        return self.point


async def test_a_fiat_price_fixes_its_rate_for_the_fees_too(tmp_path: Path) -> None:
    charger = charger_with(tmp_path)
    fiat = FiatPrices("EUR", 1_000_000, Decimal("0.30"), session_fee=Decimal("0.50"))
    charger = replace(charger, tariff=replace(charger.tariff, fiat=fiat))
    rate = FiatPrice("EUR", per_kwh=Decimal("0.25"), per_btc=Decimal(50_000))  # 2,000,000 msat/EUR
    point = PricePoint(500_000, "spot", "test", stale=False, valid_until=None, fiat=rate)
    quote = await pricing_quote(FixedPrice(point))(charger, NOW)
    assert quote.price_msat_per_kwh == 500_000
    assert quote.session_fee_msat == 1_000_000  # 0.50 EUR at the point's rate
    assert quote.fiat is not None
    assert (quote.fiat.msat_per_unit, quote.fiat.price_per_kwh) == (2_000_000, Decimal("0.25"))
