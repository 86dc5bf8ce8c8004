from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from bot.pricing.point import FiatPrice, PricePoint, require_aware
from bot.pricing.static import StaticSource


def test_price_point_json() -> None:
    point = PricePoint(
        500_500,
        "spot",
        "why",
        True,
        datetime(2024, 6, 1, 13, tzinfo=UTC),
        False,
        FiatPrice("EUR", Decimal("0.3003"), Decimal("60000")),
    )
    assert point.sat_per_kwh == Decimal("500.5")
    assert point.fiat is not None and point.fiat.msat_per_unit == 1_666_667  # 1 EUR in msat
    assert point.as_json() == {
        "msat_per_kwh": 500_500,
        "source": "spot",
        "origin": "why",
        "stale": True,
        "fallback": False,
        "valid_until": "2024-06-01T13:00:00+00:00",
        "fiat": {"currency": "EUR", "per_kwh": "0.3003", "per_btc": "60000"},
    }


async def test_static_source() -> None:
    point = await StaticSource(250_000).price_at(datetime.now(UTC))
    assert point.msat_per_kwh == 250_000 and not point.stale and point.valid_until is None
    with pytest.raises(ValueError, match="timezone-aware"):
        require_aware(datetime(2024, 1, 1))
