from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from bot.config.pricing import SpotPricing, parse_pricing
from bot.errors import PricingError
from bot.pricing.point import fiat_to_msat
from bot.pricing.spot import parse_spot, spot_fiat_per_kwh
from tests.pricing.feeds import spot_document

START = datetime(2024, 6, 1, tzinfo=UTC)


def spot_config(**overrides: Any) -> SpotPricing:
    table = {
        "kind": "spot",
        "url": "https://prices.example.org/",
        "floor_per_kwh": 0.1,
        "cap_per_kwh": 0.6,
        "markup_per_kwh": 0.2,
        "factor": 1.19,
        "fiat_per_btc": 60000,
        **overrides,
    }
    config = parse_pricing("cp.toml", table, 250_000)
    assert isinstance(config, SpotPricing)
    return config


def test_hourly_document_parses_exactly() -> None:
    series = parse_spot(json.dumps(spot_document(START, [94.2, -5.01, 120])))
    assert len(series.slots) == 3
    slot = series.at(START + timedelta(minutes=90))
    assert slot is not None and slot.price_per_mwh == Decimal("-5.01")
    assert series.at(START - timedelta(seconds=1)) is None
    assert series.at(START + timedelta(hours=3)) is None


def test_quarter_hour_document() -> None:
    series = parse_spot(json.dumps(spot_document(START, [10, 20, 30, 40], minutes=15)))
    slot = series.at(START + timedelta(minutes=31))
    assert slot is not None and slot.price_per_mwh == 30
    assert slot.end - slot.start == timedelta(minutes=15)


def test_formula_with_floor_and_cap() -> None:
    config = spot_config()
    price, text = spot_fiat_per_kwh(config, Decimal("100"))
    assert price == Decimal("0.319") and "(floor)" not in text  # 0.1 * 1.19 + 0.2
    assert spot_fiat_per_kwh(config, Decimal("-500"))[0] == Decimal("0.1")
    assert "(floor)" in spot_fiat_per_kwh(config, Decimal("-500"))[1]
    assert spot_fiat_per_kwh(config, Decimal("4000"))[0] == Decimal("0.6")
    assert "(cap)" in spot_fiat_per_kwh(config, Decimal("4000"))[1]


def test_fiat_to_msat_rounds_half_up() -> None:
    # 0.319 EUR at 60000 EUR/BTC = 0.319 / 60000 BTC = 531.6666.. sat
    assert fiat_to_msat(Decimal("0.319"), Decimal(60000)) == 531_667
    assert fiat_to_msat(Decimal("0.6"), Decimal(60000)) == 1_000_000
    with pytest.raises(ValueError, match="positive"):
        fiat_to_msat(Decimal(1), Decimal(0))


def _item(**changes: Any) -> str:
    item = spot_document(START, [50])["data"][0] | changes
    return json.dumps({"data": [item]})


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ("<html>502 Bad Gateway</html>", "not JSON"),
        ('{"data": []}', "at least one price"),
        ('[{"marketprice": 1}]', "at least one price"),
        ('{"data": [1]}', "not an object"),
        (_item(marketprice="50"), "not a number"),
        (_item(marketprice=True), "not a number"),
        (_item(marketprice=1e9), "not plausible"),
        ('{"data": [{"start_timestamp": 0, "end_timestamp": 1, "marketprice": NaN}]}', "NaN"),
        (_item(start_timestamp=1.5), "integer milliseconds"),
        (_item(end_timestamp=0), "between 0 and 24 hours"),
        (_item(unit="USD/MWh"), "unit"),
    ],
)
def test_garbage_is_refused(body: str, words: str) -> None:
    with pytest.raises(PricingError, match=words):
        parse_spot(body)


def test_overlapping_slots_are_refused() -> None:
    document = spot_document(START, [1, 2])
    document["data"][1]["start_timestamp"] -= 60_000
    with pytest.raises(PricingError, match="overlap"):
        parse_spot(json.dumps(document))
