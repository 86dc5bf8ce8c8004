"""Tariff sources against real HTTP feeds on 127.0.0.1 and a real SQLite store."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import coincurve
import pytest

from bot.config.pricing import PricingConfig, parse_pricing
from bot.pricing.book import FeedBook, build_source
from bot.pricing.point import PricePoint
from bot.pricing.service import PricingService, http_fetcher
from bot.store import Database
from bot.store.pricing import PriceFeedCache
from tests.helpers import scaled
from tests.pricing.feeds import FeedServer, address_of, forecast_data, sign_envelope, spot_document

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
TARIFF = 250_000
SIGNER = coincurve.PrivateKey()


def clock() -> float:
    return NOW.timestamp()


@pytest.fixture
async def server() -> AsyncIterator[FeedServer]:
    feeds = await FeedServer().start()
    try:
        yield feeds
    finally:
        await feeds.stop()


def spot_table(server: FeedServer, **overrides: Any) -> dict[str, Any]:
    return {
        "kind": "spot",
        "url": server.url("/spot"),
        "floor_per_kwh": 0.1,
        "cap_per_kwh": 0.6,
        "markup_per_kwh": 0.2,
        "rate_url": server.url("/rate"),
        **overrides,
    }


def service_for(configs: dict[str, PricingConfig], db: Database | None) -> PricingService:
    book = FeedBook(PriceFeedCache(db) if db else None, clock)
    sources = {cid: build_source(cid, config, book, clock) for cid, config in configs.items()}
    return PricingService(sources, book)


def pricing(table: dict[str, Any]) -> PricingConfig:
    return parse_pricing("cp.toml", table, TARIFF)


async def quote(service: PricingService, when: datetime = NOW, charger: str = "cp-1") -> PricePoint:
    async with http_fetcher() as fetch:
        await service.refresh_once(fetch)
    return await service.price_at(charger, when)


async def test_live_spot_price_in_msat_with_the_rate_fixed(
    server: FeedServer, db: Database
) -> None:
    server.set("/spot", spot_document(NOW, [100, 120]))
    server.set("/rate", {"bitcoin": {"eur": 60000}})
    point = await quote(service_for({"cp-1": pricing(spot_table(server))}, db))
    assert point.msat_per_kwh == 500_000  # 0.1 + 0.2 = 0.3 EUR at 60000 EUR/BTC = 500 sat
    assert point.fiat is not None and point.fiat.per_btc == 60000
    assert point.fiat.per_kwh == Decimal("0.3")
    assert not point.stale and not point.fallback and point.source == "spot"
    assert point.valid_until == NOW + HOUR
    assert "spot 100 EUR/MWh" in point.origin and "60000 EUR/BTC" in point.origin


async def test_floor_and_cap(server: FeedServer) -> None:
    server.set("/spot", spot_document(NOW, [-400, 3000]))
    server.set("/rate", {"bitcoin": {"eur": 60000}})
    service = service_for({"cp-1": pricing(spot_table(server))}, None)
    floor = await quote(service)
    cap = await service.price_at("cp-1", NOW + HOUR)
    assert (
        floor.fiat is not None
        and floor.fiat.per_kwh == Decimal("0.1")
        and "(floor)" in floor.origin
    )
    assert cap.fiat is not None and cap.fiat.per_kwh == Decimal("0.6") and "(cap)" in cap.origin
    assert cap.msat_per_kwh == 1_000_000


async def test_quarter_hour_spot_prices(server: FeedServer) -> None:
    server.set("/spot", spot_document(NOW, [100, 200, 300, 400], minutes=15))
    table = spot_table(server, fiat_per_btc=50000)
    del table["rate_url"]
    service = service_for({"cp-1": pricing(table)}, None)
    first = await quote(service)
    third = await service.price_at("cp-1", NOW + timedelta(minutes=31))
    assert first.valid_until == NOW + timedelta(minutes=15)
    assert third.fiat is not None and third.fiat.per_kwh == Decimal("0.5")
    assert third.valid_until == NOW + timedelta(minutes=45)
    assert "configured rate 50000" in third.origin


async def test_source_down_falls_back_to_static_and_says_so(
    server: FeedServer, caplog: pytest.LogCaptureFixture
) -> None:
    server.set("/spot", "upstream down", status=503)
    server.set("/rate", {"bitcoin": {"eur": 60000}})
    with caplog.at_level(logging.WARNING):
        point = await quote(service_for({"cp-1": pricing(spot_table(server))}, None))
    assert point.msat_per_kwh == TARIFF and point.stale and point.fallback
    assert "static fallback" in point.origin and "HTTP 503" in point.origin
    assert point.valid_until == NOW + timedelta(minutes=15)
    assert "HTTP 503" in caplog.text and "static fallback" in caplog.text


async def test_unreachable_feed_falls_back(tmp_path: Path) -> None:
    gone = await FeedServer().start()
    url = gone.url("/spot")
    await gone.stop()  # nothing listens on that port any more
    table = {
        "kind": "spot",
        "url": url,
        "floor_per_kwh": 0.1,
        "cap_per_kwh": 1,
        "fiat_per_btc": 60000,
        "timeout_s": 2,
    }
    point = await quote(service_for({"cp-1": pricing(table)}, None))
    assert point.fallback and point.msat_per_kwh == TARIFF
    assert "ClientConnectorError" in point.origin or "Connect" in point.origin


async def test_garbage_keeps_the_last_good_data(server: FeedServer, db: Database) -> None:
    server.set("/spot", spot_document(NOW, [100]))
    server.set("/rate", {"bitcoin": {"eur": 60000}})
    service = service_for({"cp-1": pricing(spot_table(server))}, db)
    assert not (await quote(service)).stale
    server.set("/spot", '{"data": [{"start_timestamp": "soon"}]}')
    point = await quote(service)
    assert point.msat_per_kwh == 500_000 and point.stale and not point.fallback
    assert "refused" in point.origin and "last good data" in point.origin


async def test_stale_spot_data_that_no_longer_covers_now(server: FeedServer) -> None:
    server.set("/spot", spot_document(NOW - 24 * HOUR, [100] * 12))
    server.set("/rate", {"bitcoin": {"eur": 60000}})
    point = await quote(service_for({"cp-1": pricing(spot_table(server))}, None))
    assert point.fallback and point.stale and point.msat_per_kwh == TARIFF
    assert "covers 2024-05-31 12:00Z-2024-06-01 00:00Z only" in point.origin


async def test_fallback_to_last_good_data_after_a_restart(
    server: FeedServer, tmp_path: Path
) -> None:
    server.set("/spot", spot_document(NOW, [100, 100]))
    server.set("/rate", {"bitcoin": {"eur": 60000}})
    path = tmp_path / "restart.sqlite3"
    async with await Database.open(path) as first_db:
        assert not (await quote(service_for({"cp-1": pricing(spot_table(server))}, first_db))).stale
    server.set("/spot", "down", status=502)
    server.set("/rate", "down", status=502)
    async with await Database.open(path) as second_db:
        service = service_for({"cp-1": pricing(spot_table(server))}, second_db)
        restored = await service.price_at("cp-1", NOW + HOUR)
        point = await quote(service, NOW + HOUR)
    assert restored.msat_per_kwh == 500_000 and restored.stale and not restored.fallback
    assert "not fetched since the restart" in restored.origin
    assert point.msat_per_kwh == 500_000 and point.stale and "HTTP 502" in point.origin


async def test_a_missing_rate_falls_back(server: FeedServer) -> None:
    server.set("/spot", spot_document(NOW, [100]))
    server.set("/rate", {"bitcoin": {"eur": 5}})  # garbage: outside the plausible range
    point = await quote(service_for({"cp-1": pricing(spot_table(server))}, None))
    assert (
        point.fallback and "no usable exchange rate" in point.origin and "plausible" in point.origin
    )


async def test_chargers_configured_alike_share_one_fetch(server: FeedServer) -> None:
    server.set("/spot", spot_document(NOW, [100]))
    server.set("/rate", {"bitcoin": {"eur": 60000}})
    table = spot_table(server)
    service = service_for({"cp-1": pricing(table), "cp-2": pricing(table)}, None)
    await quote(service)
    assert (await service.price_at("cp-2", NOW)).msat_per_kwh == 500_000
    assert server.hits == {"/spot": 1, "/rate": 1}


def green_table(server: FeedServer, signer: str | None = None) -> dict[str, Any]:
    return {
        "kind": "green",
        "url": server.url("/gsi"),
        "signer": signer or address_of(SIGNER),
        "postcode": "69256",
        "base_msat_per_kwh": 300_000,
    }


async def test_green_forecast_with_a_good_signature(server: FeedServer, db: Database) -> None:
    server.set("/gsi", sign_envelope(SIGNER, forecast_data("69256", NOW, NOW, [100, 50])))
    service = service_for({"cp-1": pricing(green_table(server))}, db)
    point = await quote(service)
    assert point.msat_per_kwh == 210_000 and not point.stale and point.source == "green"
    assert point.valid_until == NOW + HOUR and "GrünstromIndex 100 for 69256" in point.origin
    assert (await service.price_at("cp-1", NOW + HOUR)).msat_per_kwh == 300_000


@pytest.mark.parametrize("attack", ["tampered", "wrong signer"])
async def test_refused_forecasts_fall_back_to_the_base_price(
    server: FeedServer, attack: str, caplog: pytest.LogCaptureFixture
) -> None:
    document = sign_envelope(SIGNER, forecast_data("69256", NOW, NOW, [30]))
    if attack == "tampered":
        document["data"] = document["data"].replace('\\"eevalue\\": 30', '\\"eevalue\\": 100')
    else:
        document = sign_envelope(coincurve.PrivateKey(), forecast_data("69256", NOW, NOW, [100]))
    server.set("/gsi", document)
    with caplog.at_level(logging.WARNING):
        point = await quote(service_for({"cp-1": pricing(green_table(server))}, None))
    assert point.fallback and point.stale and point.msat_per_kwh == 300_000
    words = "hash does not match" if attack == "tampered" else "not by the trusted signer"
    assert words in point.origin and words in caplog.text


async def test_old_forecasts_and_rates_age_out(server: FeedServer) -> None:
    now = [NOW.timestamp()]
    book = FeedBook(None, lambda: now[0])
    server.set("/gsi", sign_envelope(SIGNER, forecast_data("69256", NOW, NOW, [100] * 72)))
    server.set("/spot", spot_document(NOW, [100] * 72))
    server.set("/rate", {"bitcoin": {"eur": 60000}})
    green = build_source("cp-g", pricing(green_table(server)), book, lambda: now[0])
    spot = build_source("cp-s", pricing(spot_table(server)), book, lambda: now[0])
    service = PricingService({"cp-g": green, "cp-s": spot}, book)
    async with http_fetcher() as fetch:
        await service.refresh_once(fetch)
    later = NOW + timedelta(hours=7)  # the rate's max age is 6 hours, the forecast's 2 days
    now[0] = later.timestamp()
    assert not (await green.price_at(later)).fallback
    assert "no usable exchange rate" in (await spot.price_at(later)).origin
    now[0] = (NOW + timedelta(days=2, minutes=1)).timestamp()
    assert (await green.price_at(NOW + timedelta(days=2, minutes=1))).fallback


async def test_the_service_recovers_with_backoff_and_stops_cleanly(server: FeedServer) -> None:
    server.set("/spot", "warming up", status=503)
    table = spot_table(server, fiat_per_btc=60000)
    del table["rate_url"]
    config = dataclasses.replace(pricing(table), refresh_s=0.05)
    book = FeedBook(None, clock)
    service = PricingService(
        {"cp-1": build_source("cp-1", config, book, clock)}, book, backoff_base_s=0.01
    )
    task = asyncio.create_task(service.run())
    try:
        assert (await service.price_at("cp-1", NOW)).fallback
        await asyncio.sleep(0.05)
        server.set("/spot", spot_document(NOW, [100]))
        async with asyncio.timeout(scaled(5)):
            for _ in range(10_000):  # poll the public answer: bounded by the timeout
                if not (await service.price_at("cp-1", NOW)).stale:
                    break
                await asyncio.sleep(0.01)
        assert server.hits["/spot"] >= 2
        hits = server.hits["/spot"]
        await asyncio.sleep(0.2)
        assert 2 <= server.hits["/spot"] - hits <= 8  # refreshing, bounded by refresh_s
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


def test_backoff_doubles_and_is_capped() -> None:
    service = PricingService({}, FeedBook(None, clock), jitter=lambda: 0.5)
    table = {
        "kind": "spot",
        "url": "http://127.0.0.1:1/",
        "floor_per_kwh": 0.1,
        "cap_per_kwh": 1,
        "fiat_per_btc": 1,
    }
    build_source("cp-1", pricing(table), service.book, clock)
    feed = service.book.feeds[0]
    delays = []
    for failures in (1, 2, 3, 10):
        feed.failures = failures
        delays.append(service.backoff(feed))
    assert delays == [5.0, 10.0, 20.0, 300.0]
