from __future__ import annotations

from decimal import Decimal

import pytest

from bot.config.pricing import RateFeed
from bot.errors import PricingError
from bot.pricing.rate import parse_rate


def feed(path: str) -> RateFeed:
    return RateFeed("https://r.example.org", tuple(path.split(".")), Decimal(1000), Decimal(10**7))


def test_simple_price_shape() -> None:
    assert parse_rate('{"bitcoin": {"eur": 61234.5}}', feed("bitcoin.eur")) == Decimal("61234.5")


def test_ticker_shape_with_list_index_and_string_value() -> None:
    body = '{"error": [], "result": {"XXBTZEUR": {"c": ["61234.50000", "0.01"]}}}'
    assert parse_rate(body, feed("result.XXBTZEUR.c.0")) == Decimal("61234.5")


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ('{"bitcoin": {}}', "no bitcoin.eur"),
        ('{"bitcoin": {"eur": null}}', "not a number"),
        ('{"bitcoin": {"eur": "lots"}}', "not a number"),
        ('{"bitcoin": {"eur": 61.2}}', "plausible"),
        ('{"bitcoin": {"eur": "Infinity"}}', "plausible"),
        ("", "not JSON"),
    ],
)
def test_garbage_rates_are_refused(body: str, words: str) -> None:
    with pytest.raises(PricingError, match=words):
        parse_rate(body, feed("bitcoin.eur"))
