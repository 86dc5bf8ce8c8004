"""Pricing hot paths: time-of-use lookup, spot parsing and pricing, forecast verification."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import coincurve
from Cryptodome.Hash import keccak

from bot.config.pricing import GreenPricing, SchedulePricing, parse_pricing
from bot.pricing.book import FeedBook, build_source
from bot.pricing.green import parse_forecast
from bot.pricing.schedule import schedule_price
from bot.pricing.spot import parse_spot

START = datetime(2024, 6, 1, tzinfo=UTC)


def _rate(label: str, count: int, work: Callable[[int], object]) -> None:
    started = time.perf_counter()
    for i in range(count):
        work(i)
    elapsed = time.perf_counter() - started
    print(f"{label}: {count / elapsed:,.0f}/s ({elapsed / count * 1e6:,.1f} us each)")


def _schedule() -> SchedulePricing:
    windows = [
        {"days": ["mon-fri"], "start": "07:00", "end": "11:00", "price_msat_per_kwh": 400_000},
        {"days": ["mon-fri"], "start": "17:00", "end": "20:00", "price_msat_per_kwh": 450_000},
        {"days": ["sat-sun"], "start": "10:00", "end": "16:00", "price_msat_per_kwh": 200_000},
        {"start": "22:00", "end": "06:00", "price_msat_per_kwh": 150_000},
    ]
    table = {"kind": "schedule", "timezone": "Europe/Berlin", "window": windows}
    config = parse_pricing("bench.toml", table, 300_000)
    assert isinstance(config, SchedulePricing)
    return config


def _signed_forecast(key: coincurve.PrivateKey) -> str:
    hours = [
        {"epochtime": int(START.timestamp()) + 3600 * i, "eevalue": i % 101} for i in range(48)
    ]
    data = json.dumps({"time": int(START.timestamp() * 1000), "plz": "69256", "gsi": hours})
    digest = keccak.new(digest_bits=256, data=data.encode()).digest()
    signed = keccak.new(digest_bits=256, data=b"\x19Ethereum Signed Message:\n32" + digest)
    signature = key.sign_recoverable(signed.digest(), hasher=None)
    pub = key.public_key.format(compressed=False)[1:]
    address = "0x" + keccak.new(digest_bits=256, data=pub).digest()[-20:].hex()
    return json.dumps(
        {
            "hash": "0x" + digest.hex(),
            "signature": "0x" + signature[:64].hex() + f"{signature[64] + 27:02x}",
            "by": address,
            "data": data,
        }
    )


async def run() -> None:
    schedule = _schedule()
    _rate(
        "time-of-use price (4 windows, Europe/Berlin)",
        5000,
        lambda i: schedule_price(schedule, START + timedelta(minutes=37 * i)),
    )
    step = timedelta(minutes=15)
    body = json.dumps(
        {
            "data": [
                {
                    "start_timestamp": int((START + i * step).timestamp() * 1000),
                    "end_timestamp": int((START + (i + 1) * step).timestamp() * 1000),
                    "marketprice": 80 + i % 17 * 1.37,
                    "unit": "Eur/MWh",
                }
                for i in range(192)
            ]
        }
    )
    _rate("parse spot feed (192 quarter hours)", 500, lambda i: parse_spot(body))
    table = {
        "kind": "spot",
        "url": "http://127.0.0.1:1/",
        "floor_per_kwh": 0.1,
        "cap_per_kwh": 0.8,
        "markup_per_kwh": 0.2,
        "fiat_per_btc": 61234.5,
    }
    book = FeedBook(None, START.timestamp)
    source = build_source(
        "bench", parse_pricing("bench.toml", table, 250_000), book, START.timestamp
    )
    book.feeds[0].accept(body, START.timestamp())
    await source.price_at(START)
    started = time.perf_counter()
    count = 5000
    for i in range(count):
        await source.price_at(START + timedelta(minutes=i % 2880))
    elapsed = time.perf_counter() - started
    each = elapsed / count * 1e6
    print(f"spot price_at (in memory): {count / elapsed:,.0f}/s ({each:,.1f} us each)")
    key = coincurve.PrivateKey()
    document = _signed_forecast(key)
    config = parse_pricing(
        "bench.toml",
        {
            "kind": "green",
            "url": "http://127.0.0.1:1/",
            "postcode": "69256",
            "signer": json.loads(document)["by"],
            "max_age_s": 10**9,
        },
        250_000,
    )
    assert isinstance(config, GreenPricing)
    now = START.timestamp()
    _rate(
        "verify + parse signed forecast (48 h)",
        1000,
        lambda i: parse_forecast(document, config, now),
    )
