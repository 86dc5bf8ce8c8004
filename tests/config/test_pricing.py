from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bot.config import load_config
from bot.config.pricing import (
    GreenPricing,
    SchedulePricing,
    SpotPricing,
    StaticPricing,
    normalise_address,
    parse_pricing,
)
from bot.errors import ConfigError
from tests.helpers import write_config

SIGNER = "0x2c7536e3605d9c16a7a3d7b1898e529396a65c23"
SPOT: dict[str, Any] = {
    "kind": "spot",
    "url": "https://prices.example.org/v1/marketdata",
    "floor_per_kwh": 0.1,
    "cap_per_kwh": 0.8,
    "markup_per_kwh": 0.25,
    "rate_url": "https://rates.example.org/price?ids=bitcoin&vs=eur",
}


def fails(table: Any, key: str, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_pricing("cp-001.toml", table, 250_000)
    assert info.value.file == "cp-001.toml"
    assert info.value.key == key
    assert re.search(words, info.value.message), info.value.message


def test_absent_table_means_static_from_the_tariff() -> None:
    assert parse_pricing("cp.toml", None, 250_000) == StaticPricing(250_000)
    assert parse_pricing("cp.toml", {"kind": "static"}, 250_000) == StaticPricing(250_000)


def test_spot_reads_fiat_amounts_exactly() -> None:
    config = parse_pricing("cp.toml", SPOT, 250_000)
    assert isinstance(config, SpotPricing)
    assert config.floor_per_kwh == Decimal("0.1") and config.markup_per_kwh == Decimal("0.25")
    assert config.factor == 1 and config.currency == "EUR"
    assert config.rate is not None and config.rate.path == ("bitcoin", "eur")
    assert config.fallback_msat_per_kwh == 250_000 and config.fiat_per_btc is None


def test_green_and_schedule_defaults() -> None:
    green = parse_pricing(
        "cp.toml",
        {
            "kind": "green",
            "url": "https://gsi.example.org/f",
            "signer": "0x" + SIGNER[2:].upper(),
            "postcode": "69256",
        },
        250_000,
    )
    assert isinstance(green, GreenPricing)
    assert green.signer == SIGNER and green.threshold == 50 and green.max_discount_percent == 30
    schedule = parse_pricing("cp.toml", {"kind": "schedule", "timezone": "Europe/Berlin"}, 9)
    assert isinstance(schedule, SchedulePricing) and schedule.default_msat_per_kwh == 9


@pytest.mark.parametrize(
    ("table", "key", "words"),
    [
        ([], "pricing", "expected a table"),
        ({}, "pricing.kind", "missing"),
        ({"kind": "tidal"}, "pricing.kind", "unknown kind"),
        ({"kind": "static", "colour": 1}, "pricing.colour", "unknown key"),
        ({"kind": "static", "price_msat_per_kwh": 0}, "pricing.price_msat_per_kwh", "at least 1"),
        ({"kind": "schedule", "timezone": "Mars/Olympus"}, "pricing.timezone", "unknown IANA"),
        (
            {"kind": "schedule", "timezone": "UTC", "window": [{"start": "7:00"}]},
            "pricing.window[0].start",
            "HH:MM",
        ),
        (
            {
                "kind": "schedule",
                "timezone": "UTC",
                "window": [
                    {"start": "07:00", "end": "08:00", "price_msat_per_kwh": 1},
                    {"start": "07:00", "end": "24:00", "price_msat_per_kwh": 1, "days": ["xmas"]},
                ],
            },
            "pricing.window[1].days",
            "unknown day",
        ),
        (
            {"kind": "schedule", "timezone": "UTC", "window": [{"start": "24:00", "end": "01:00"}]},
            "pricing.window[0].start",
            "HH:MM",
        ),
        (
            {"kind": "schedule", "timezone": "UTC", "window": [{"start": "01:00", "end": "01:00"}]},
            "pricing.window[0].end",
            "end equals start",
        ),
        ({**SPOT, "floor_per_kwh": 0}, "pricing.floor_per_kwh", "above 0"),
        ({**SPOT, "cap_per_kwh": 0.05}, "pricing.cap_per_kwh", "below floor"),
        ({**SPOT, "fiat_per_btc": 60000}, "pricing.rate_url", "exactly one"),
        ({**SPOT, "url": "ftp://x"}, "pricing.url", "http"),
        ({**SPOT, "refresh_s": 5}, "pricing.refresh_s", "at least 60"),
        ({**SPOT, "factor": "x"}, "pricing.factor", "expected a number"),
        ({**SPOT, "currency": "euro"}, "pricing.currency", "3-letter"),
        ({**SPOT, "rate_min": 10, "rate_max": 5}, "pricing.rate_max", "rate_min < rate_max"),
        (
            {"kind": "green", "url": "https://g.example.org", "signer": "0x12", "postcode": "1"},
            "pricing.signer",
            "40 hex digits",
        ),
        (
            {
                "kind": "green",
                "url": "https://g.example.org",
                "signer": SIGNER,
                "postcode": "1",
                "max_discount_percent": 100,
            },
            "pricing.max_discount_percent",
            "within 0..90",
        ),
    ],
)
def test_mistakes_name_the_file_and_key(table: Any, key: str, words: str) -> None:
    fails(table, key, words)


def test_identity_file_pricing_table(tmp_path: Path) -> None:
    config_path = write_config(tmp_path, chargers=("cp-001", "cp-002"))
    identity = tmp_path / "identities" / "cp-001.toml"
    identity.write_text(
        identity.read_text()
        + '\n[pricing]\nkind = "schedule"\ntimezone = "Europe/Berlin"\n'
        + '[[pricing.window]]\nstart = "22:00"\nend = "06:00"\nprice_msat_per_kwh = 150000\n'
    )
    config = load_config(config_path, env={})
    first, second = config.chargers
    assert isinstance(first.pricing, SchedulePricing) and len(first.pricing.windows) == 1
    assert second.pricing == StaticPricing(second.tariff.price_msat_per_kwh)
    identity.write_text(identity.read_text().replace('start = "22:00"', 'start = "late"'))
    with pytest.raises(ConfigError) as info:
        load_config(config_path, env={})
    assert info.value.file == str(identity) and info.value.key == "pricing.window[0].start"


def test_signer_addresses_are_normalised_and_checked() -> None:
    address = "0x2c7536e3605d9c16a7a3d7b1898e529396a65c23"
    assert normalise_address("0x2C7536E3605D9C16a7a3D7b1898e529396a65c23") == address
    with pytest.raises(ValueError, match="40 hex digits"):
        normalise_address("2c7536e3605d9c16a7a3d7b1898e529396a65c23")
