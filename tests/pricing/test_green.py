from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import coincurve
import pytest

from bot.config.pricing import GreenPricing, parse_pricing
from bot.errors import PricingError
from bot.pricing.green import green_price, parse_forecast
from tests.pricing.feeds import address_of, forecast_data, sign_envelope

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
SIGNER = coincurve.PrivateKey()


def green_config(**overrides: Any) -> GreenPricing:
    table = {
        "kind": "green",
        "url": "https://gsi.example.org/forecast?plz=69256",
        "signer": address_of(SIGNER),
        "postcode": "69256",
        "base_msat_per_kwh": 300_000,
        **overrides,
    }
    config = parse_pricing("cp.toml", table, 250_000)
    assert isinstance(config, GreenPricing)
    return config


def envelope(data: str | None = None, key: coincurve.PrivateKey = SIGNER) -> dict[str, str]:
    return sign_envelope(key, data or forecast_data("69256", NOW, NOW, [20, 50, 75, 100]))


def parse(document: dict[str, Any], **overrides: Any) -> Any:
    return parse_forecast(json.dumps(document), green_config(**overrides), NOW.timestamp())


def test_good_signature_parses_the_hourly_index() -> None:
    forecast = parse(envelope())
    assert forecast.postcode == "69256" and forecast.issued == NOW
    assert [h.value for h in forecast.hours] == [20, 50, 75, 100]
    hour = forecast.at(NOW + timedelta(minutes=150))
    assert hour is not None and hour.value == 75 and hour.end == NOW + timedelta(hours=3)
    assert forecast.at(NOW + timedelta(hours=4)) is None


def test_gsi_as_a_plain_list_with_integer_times() -> None:
    data = json.dumps(
        {
            "time": int(NOW.timestamp() * 1000),
            "postcode": "69256",
            "gsi": [{"epochtime": int(NOW.timestamp()), "eevalue": 61}],
        }
    )
    assert parse(envelope(data)).hours[0].value == 61


def test_tampered_data_is_refused() -> None:
    document = envelope()
    document["data"] = document["data"].replace('\\"eevalue\\": 20', '\\"eevalue\\": 99')
    assert '"eevalue\\": 99' in document["data"]
    with pytest.raises(PricingError, match="hash does not match"):
        parse(document)


def test_rehashed_tampered_data_fails_the_signature() -> None:
    forged = envelope(forecast_data("69256", NOW, NOW, [100, 100]))
    genuine = envelope()
    forged["signature"] = genuine["signature"]
    with pytest.raises(PricingError, match=r"not by .* as claimed"):
        parse(forged)


def test_a_forecast_from_another_signer_is_refused() -> None:
    stranger = coincurve.PrivateKey()
    with pytest.raises(PricingError, match="not by the trusted signer"):
        parse(envelope(key=stranger))


def test_a_claimed_signer_that_did_not_sign_is_refused() -> None:
    document = envelope()
    document["by"] = address_of(coincurve.PrivateKey())
    with pytest.raises(PricingError, match="as claimed"):
        parse(document)


def test_a_forecast_for_another_place_is_refused() -> None:
    with pytest.raises(PricingError, match="postcode '10115'"):
        parse(envelope(forecast_data("10115", NOW, NOW, [50])))


def test_a_stale_forecast_is_refused() -> None:
    old = NOW - timedelta(days=3)
    with pytest.raises(PricingError, match="older than max_age_s"):
        parse(envelope(forecast_data("69256", old, old, [50] * 80)))


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"data": {"plz": "69256"}}, "<JSON text>"),
        ({"hash": "0x1234"}, "hash must be"),
        ({"signature": "0x" + "zz" * 65}, "signature must be"),
        ({"by": None}, "by must be"),
    ],
)
def test_malformed_envelopes_are_refused(change: dict[str, Any], words: str) -> None:
    with pytest.raises(PricingError, match=words):
        parse(envelope() | change)


@pytest.mark.parametrize(
    ("values", "words"),
    [
        ([101], "eevalue"),
        (["x"], "eevalue"),
        ([], "non-empty"),
    ],
)
def test_malformed_hours_are_refused(values: list[Any], words: str) -> None:
    data = json.dumps(
        {
            "time": int(NOW.timestamp() * 1000),
            "plz": "69256",
            "gsi": [
                {"epochtime": int(NOW.timestamp()) + 3600 * i, "eevalue": v}
                for i, v in enumerate(values)
            ],
        }
    )
    with pytest.raises(PricingError, match=words):
        parse(envelope(data))


def test_discount_formula() -> None:
    config = green_config()  # base 300000, threshold 50, at most 30 % off
    assert green_price(config, 0) == 300_000
    assert green_price(config, 50) == 300_000
    assert green_price(config, 75) == 255_000  # half way: 15 % off
    assert green_price(config, 100) == 210_000
    odd = green_config(base_msat_per_kwh=1001, threshold=0, max_discount_percent=33)
    assert green_price(odd, 1) == 1001 - 1001 * 33 // 10_000  # rounds in the operator's favour
