from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nostr_sdk
import pytest

from bot.config import Config
from bot.config.pricing import parse_pricing
from bot.nostr.addresses import AddressBook
from bot.nostr.events import ChargerSnapshot, ConnectorState, status_tags
from bot.nostr.outbox import Outbox
from bot.nostr.pool import RelayPool
from bot.nostr.relay import LocalRelay
from bot.nostr.status import StatusPublisher, TariffPrices, snapshot_of
from bot.pricing.point import PricePoint
from bot.pricing.service import PricingService
from bot.store import Database
from bot.store.nostr import ChargerState, NostrStateStore
from bot.store.outbox import OutboxStore
from tests.helpers import scaled
from tests.nostr.support import Driver, make_charger, nostr_config, open_db, running, wait_until
from tests.pricing.feeds import FeedServer, spot_document


@dataclass
class Bot:
    config: Config
    db: Database
    pool: RelayPool
    outbox: Outbox
    status: StatusPublisher

    async def set_status(self, connector: int, status: str, *, online: bool = True) -> None:
        charger_id = self.config.chargers[0].id
        await self.db.execute(
            "UPDATE chargers SET online = ? WHERE id = ?", (int(online), charger_id)
        )
        await self.db.execute(
            "INSERT INTO connector_status (charger_id, connector_id, status, updated_at)"
            " VALUES (?, ?, ?, 0) ON CONFLICT(charger_id, connector_id)"
            " DO UPDATE SET status = excluded.status",
            (charger_id, connector, status),
        )
        self.status.charger_changed(charger_id)

    async def published(self, kind: int = 33600) -> list[dict[str, object]]:
        rows = await self.db.fetchall(
            "SELECT event_json FROM outbox WHERE kind = ? ORDER BY id", (kind,)
        )
        return [json.loads(r["event_json"]) for r in rows]


@pytest.fixture
async def bot(
    tmp_path: Path, relay: LocalRelay, request: pytest.FixtureRequest
) -> AsyncIterator[Bot]:
    options = dict(getattr(request, "param", {}))
    config = nostr_config(tmp_path, [relay.url])
    if "pricing" in options:  # a [pricing] table for the charger: the real pricing service
        table = options.pop("pricing")
        charger = config.chargers[0]
        priced = replace(
            charger, pricing=parse_pricing("cp.toml", table, charger.tariff.price_msat_per_kwh)
        )
        config = replace(config, chargers=(priced,))
        options["prices"] = PricingService.from_chargers(config.chargers, None)
    db = await open_db(tmp_path, config)
    pool = RelayPool.from_config(config)
    outbox = Outbox(OutboxStore(db), pool)
    state = NostrStateStore(db)
    status = StatusPublisher(
        config.chargers, state, outbox, AddressBook(state, time.time), **options
    )
    try:
        yield Bot(config, db, pool, outbox, status)
    finally:
        await pool.close()
        await db.close()


PRICE = PricePoint(1, "static", "test", False, None)


def test_snapshot_marks_every_connector_offline_when_the_charger_is() -> None:
    charger = make_charger()
    online = snapshot_of(charger, ChargerState(True, {1: "Charging"}), PRICE)
    assert [c.status for c in online.connectors] == ["Charging", "Unknown"]
    offline = snapshot_of(charger, ChargerState(False, {1: "Charging"}), PRICE)
    assert [c.status for c in offline.connectors] == ["Offline", "Offline"]
    offline = snapshot_of(charger, None, PRICE)
    assert [c.status for c in offline.connectors] == ["Offline", "Offline"]


def test_snapshot_carries_where_the_price_comes_from() -> None:
    charger = make_charger()
    until = datetime(2024, 6, 1, 12, 0, 0, 500_000, tzinfo=UTC)
    spot = PricePoint(180_000, "spot", "test", True, until)
    snapshot = snapshot_of(charger, None, spot)
    assert (snapshot.price_source, snapshot.price_state) == ("spot", "stale")
    assert snapshot.price_until == int(until.timestamp()) + 1  # rounded up: never too early
    fallback = snapshot_of(charger, None, replace(spot, fallback=True))
    assert fallback.price_state == "fallback"
    assert snapshot.fingerprint() != fallback.fingerprint()


async def test_the_tariff_price_is_the_default() -> None:
    charger = make_charger()
    point = await TariffPrices([charger]).price_at(charger.id, datetime.now(UTC))
    assert (point.msat_per_kwh, point.stale, point.valid_until) == (250_000, False, None)


@pytest.mark.parametrize(
    "bot", [{"pricing": {"kind": "static", "price_msat_per_kwh": 123_000}}], indirect=True
)
async def test_status_and_human_status_on_the_relay(bot: Bot, relay: LocalRelay) -> None:
    charger = bot.config.chargers[0]
    pubkey = charger.keys.public_key_hex
    await bot.set_status(1, "Available")
    async with running(bot.pool, bot.outbox, bot.status), Driver([relay.url]) as driver:
        query = nostr_sdk.Filter().kinds([nostr_sdk.Kind(33600), nostr_sdk.Kind(30315)])
        await wait_until(lambda: _has(driver, query, 2), what="status events")
        events = {e["kind"]: e for e in await driver.fetch_json(query)}
    status, human = events[33600], events[30315]
    expires = status["created_at"] + 900
    snapshot = ChargerSnapshot(
        "cp-001", "Charger cp-001", True, (ConnectorState(1, "Available", "Type2", 22000),), 123_000
    )
    assert status["tags"] == status_tags(pubkey, charger, snapshot, expires)
    assert ["price", "123000", "msat", "kWh"] in status["tags"]
    assert ["price-source", "static", "fresh"] in status["tags"]
    assert status["content"] == human["content"] == "⚡ Available · 123 sat/kWh"
    assert human["tags"] == [
        ["d", "general"],
        ["a", f"33600:{pubkey}:cp-001"],
        ["expiration", str(human["created_at"] + 900)],
    ]


@pytest.mark.parametrize("bot", [{"min_interval_s": 0.3}], indirect=True)
async def test_a_flapping_connector_is_coalesced(bot: Bot, relay: LocalRelay) -> None:
    async with running(bot.pool, bot.outbox, bot.status), Driver([relay.url]) as driver:
        started = asyncio.get_running_loop().time()
        for i in range(40):
            await bot.set_status(1, "Charging" if i % 2 else "Available")
            await asyncio.sleep(0.03)
        await bot.set_status(1, "Finishing")
        elapsed = asyncio.get_running_loop().time() - started
        query = nostr_sdk.Filter().kind(nostr_sdk.Kind(33600))
        await wait_until(lambda: _latest_is(driver, query, "Finishing"), what="final status")
        on_relay = await driver.fetch_json(query)
        await asyncio.sleep(0.5)  # nothing more once the charger is quiet
        published = await bot.published()
    assert len(on_relay) == 1  # addressable: the relay keeps the newest only
    assert 2 <= len(published) <= elapsed / 0.3 + 3, len(published)
    times = [e["created_at"] for e in published]
    assert times == sorted(set(times)), "created_at must strictly increase"
    assert on_relay[0]["created_at"] == times[-1]


@pytest.mark.parametrize("bot", [{"min_interval_s": 0.1}], indirect=True)
async def test_an_unchanged_status_is_not_published_again(bot: Bot) -> None:
    await bot.set_status(1, "Available")
    async with running(bot.pool, bot.outbox, bot.status):
        await wait_until(lambda: _count(bot, 1), what="first status")
        bot.status.charger_changed("cp-001")
        bot.status.charger_changed("no-such-charger")
        await asyncio.sleep(0.2)
        assert len(await bot.published()) == 1
        await bot.set_status(1, "Available", online=False)
        await wait_until(lambda: _count(bot, 2), what="offline status")
    assert (await bot.published())[-1]["content"] == "⛔ Offline"


@pytest.mark.slow
@pytest.mark.parametrize("bot", [{"ttl_s": 3.0}], indirect=True)
async def test_status_is_refreshed_before_it_expires_and_vanishes_with_the_bot(
    bot: Bot, relay: LocalRelay
) -> None:
    await bot.set_status(1, "Available")
    query = nostr_sdk.Filter().kind(nostr_sdk.Kind(33600))
    async with Driver([relay.url]) as driver:
        async with running(bot.pool, bot.outbox, bot.status):
            await wait_until(lambda: _count(bot, 2), seconds=4, what="refresh")
            first, second = (await bot.published())[:2]
            assert int(_tag(first, "expiration")) == first["created_at"] + 3  # type: ignore[operator]
            assert second["created_at"] > first["created_at"]  # type: ignore[operator]
            assert int(_tag(second, "expiration")) > int(_tag(first, "expiration"))
            await wait_until(lambda: _has(driver, query, 1), what="status on relay")
        # The bot is gone: within the TTL its status disappears from the relay.
        await wait_until(lambda: _has(driver, query, 0), seconds=5, what="expiry")


# Spot pricing whose feed has never answered (nothing listens on port 9): the pricing
# service gives its fallback price, and the status says so to machines and to people.
SPOT_WITHOUT_DATA: dict[str, Any] = {
    "kind": "spot",
    "url": "http://127.0.0.1:9/spot",
    "floor_per_kwh": 0.1,
    "cap_per_kwh": 1,
    "fiat_per_btc": 60000,
    "fallback_msat_per_kwh": 300_000,
}


@pytest.mark.parametrize("bot", [{"pricing": SPOT_WITHOUT_DATA}], indirect=True)
async def test_a_fallback_price_is_marked_in_both_events(bot: Bot, relay: LocalRelay) -> None:
    await bot.set_status(1, "Available")
    async with running(bot.pool, bot.outbox, bot.status), Driver([relay.url]) as driver:
        query = nostr_sdk.Filter().kinds([nostr_sdk.Kind(33600), nostr_sdk.Kind(30315)])
        await wait_until(lambda: _has(driver, query, 2), what="status events")
        events = {e["kind"]: e for e in await driver.fetch_json(query)}
    status, human = events[33600], events[30315]
    assert ["price", "300000", "msat", "kWh"] in status["tags"]
    assert ["price-source", "spot", "fallback"] in status["tags"]
    until = int(_tag(status, "price-until"))
    assert 0 < until - status["created_at"] <= 15 * 60 + 1  # type: ignore[operator]
    assert human["content"] == "⚡ Available · 300 sat/kWh (fallback price)"


class _Clock:
    """Real time moved to just before a price window ends, so the test waits a moment only."""

    def __init__(self, at: datetime) -> None:
        self.at = at.timestamp()
        self.offset: float | None = None

    def __call__(self) -> float:
        if self.offset is None:  # starts on first use, not when the test is collected
            self.offset = self.at - time.time()
        return time.time() + self.offset


# 11:00 UTC: the cheap window ends, the default price begins.
SCHEDULE = {
    "kind": "schedule",
    "timezone": "UTC",
    "default_msat_per_kwh": 200_000,
    "window": [{"start": "09:00", "end": "11:00", "price_msat_per_kwh": 100_000}],
}
WINDOW_END = datetime(2024, 6, 1, 11, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "bot",
    [{"pricing": SCHEDULE, "clock": _Clock(WINDOW_END - timedelta(seconds=0.8))}],
    indirect=True,
)
async def test_a_new_price_window_is_published_without_any_status_change(
    bot: Bot, relay: LocalRelay
) -> None:
    await bot.set_status(1, "Available")
    query = nostr_sdk.Filter().kind(nostr_sdk.Kind(33600))
    async with running(bot.pool, bot.outbox, bot.status), Driver([relay.url]) as driver:
        await wait_until(lambda: _price_is(driver, query, "200000"), what="the new price")
        published = await bot.published()
    assert [_tag(e, "price") for e in published] == ["100000", "200000"]
    assert _tag(published[0], "price-until") == str(int(WINDOW_END.timestamp()))
    assert ["price-source", "schedule", "fresh"] in published[1]["tags"]  # type: ignore[operator]


def _tag(event: dict[str, object], name: str) -> str:
    tags = event["tags"]
    assert isinstance(tags, list)
    return str(next(t[1] for t in tags if t[0] == name))


async def _has(driver: Driver, query: nostr_sdk.Filter, n: int) -> bool:
    return len(await driver.fetch(query)) == n


async def _count(bot: Bot, n: int) -> bool:
    return len(await bot.published()) >= n


async def _price_is(driver: Driver, query: nostr_sdk.Filter, price: str) -> bool:
    events = await driver.fetch_json(query)
    return bool(events) and _tag(events[0], "price") == price


async def _latest_is(driver: Driver, query: nostr_sdk.Filter, status: str) -> bool:
    events = await driver.fetch_json(query)
    return bool(events) and ["connector", "1", status, "Type2", "22000"] in events[0]["tags"]


# Issue 13: the 33600 carries the price a payment made now gets. A spot feed on a real
# HTTP server; the pricing service runs beside the publisher, as in `zapcharge run`.
def _spot_bot(bot: Bot, url: str) -> PricingService:
    table = {
        "kind": "spot",
        "url": url,
        "floor_per_kwh": 0.05,
        "cap_per_kwh": 1,
        "fiat_per_btc": 60000,
        "fallback_msat_per_kwh": 300_000,
    }
    charger = bot.config.chargers[0]
    spot = parse_pricing("cp.toml", table, charger.tariff.price_msat_per_kwh)
    priced = replace(charger, pricing=replace(spot, refresh_s=0.3))
    prices = PricingService.from_chargers([priced], None)
    bot.status = StatusPublisher(
        [priced],
        NostrStateStore(bot.db),
        bot.outbox,
        AddressBook(NostrStateStore(bot.db), time.time),
        prices=prices,
    )
    return prices


def _this_hour() -> datetime:
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


async def test_the_first_status_carries_the_live_price_not_the_fallback(bot: Bot) -> None:
    feed = await FeedServer().start()
    try:
        feed.delay_s = 0.5  # the first fetch takes a while after the start
        url = feed.set("/spot", spot_document(_this_hour(), [100.0, 100.0]))  # 0.10 EUR/kWh
        prices = _spot_bot(bot, url)
        await bot.set_status(1, "Available")
        async with running(prices, bot.pool, bot.outbox, bot.status):
            await wait_until(lambda: _count(bot, 1), what="a status event")
            first = (await bot.published())[0]
    finally:
        await feed.stop()
    assert _tag(first, "price") == "166667"  # 0.10 EUR at 60,000 EUR/BTC, not 300000
    assert ["price-source", "spot", "fresh"] in first["tags"]  # type: ignore[operator]


async def test_a_new_price_within_the_window_is_published(bot: Bot) -> None:
    feed = await FeedServer().start()
    try:
        url = feed.set("/spot", spot_document(_this_hour(), [100.0, 100.0]))
        prices = _spot_bot(bot, url)
        await bot.set_status(1, "Available")
        async with running(prices, bot.pool, bot.outbox, bot.status):
            await wait_until(lambda: _count(bot, 1), what="the first status")
            # The market publishes a corrected price for the hour we are in.
            feed.set("/spot", spot_document(_this_hour(), [200.0, 100.0]))
            await wait_until(lambda: _count(bot, 2), what="the corrected price")
            published = await bot.published()
    finally:
        await feed.stop()
    assert [_tag(e, "price") for e in published][:2] == ["166667", "333333"]


@pytest.mark.parametrize(
    "bot", [{"min_interval_s": 0.1, "offline_grace_s": scaled(3.0)}], indirect=True
)
async def test_a_charger_that_drops_shows_offline_only_after_the_grace(bot: Bot) -> None:
    charger_id = bot.config.chargers[0].id

    async def drop() -> None:
        await bot.db.execute(
            "UPDATE chargers SET last_seen = ? WHERE id = ?", (time.time(), charger_id)
        )
        await bot.set_status(1, "Available", online=False)

    await bot.set_status(1, "Available")
    async with running(bot.pool, bot.outbox, bot.status):
        await wait_until(lambda: _count(bot, 1), what="first status")
        await drop()
        await asyncio.sleep(0.5)
        await bot.set_status(1, "Available")  # back within the grace: nothing to publish
        await asyncio.sleep(scaled(3.0))
        assert len(await bot.published()) == 1
        await drop()
        await asyncio.sleep(0.7)
        assert len(await bot.published()) == 1  # still within the grace
        await wait_until(lambda: _count(bot, 2), seconds=scaled(8), what="offline after the grace")
    assert (await bot.published())[-1]["content"] == "⛔ Offline"


class _Wave:
    """The central system's ``connect_wave`` as the test sets it; counts the questions."""

    def __init__(self) -> None:
        self.on = True
        self.asked = 0

    def __call__(self) -> bool:
        self.asked += 1
        return self.on


async def _asked(wave: _Wave, n: int) -> bool:
    return wave.asked >= n


@pytest.mark.parametrize("bot", [{"busy_pause_s": 0.01, "max_hold_s": 3600.0}], indirect=True)
async def test_nothing_is_signed_while_a_wave_of_chargers_connects(bot: Bot) -> None:
    wave = _Wave()
    bot.status.yield_to(wave)
    await bot.set_status(1, "Available")
    async with running(bot.pool, bot.outbox, bot.status):
        # 100 looks 10 ms apart: past the 0.5 s in which a change is gathered.
        await wait_until(lambda: _asked(wave, 100), what="the publisher looking 100 times")
        assert await bot.published() == []
        wave.on = False
        await wait_until(lambda: _count(bot, 1), what="the status once the wave is over")


@pytest.mark.parametrize("bot", [{"busy_pause_s": 0.01, "max_hold_s": 0.3}], indirect=True)
async def test_a_wave_holds_statuses_back_for_max_hold_s_only(bot: Bot) -> None:
    wave = _Wave()
    bot.status.yield_to(wave)
    await bot.set_status(1, "Available")
    async with running(bot.pool, bot.outbox, bot.status):
        await wait_until(lambda: _count(bot, 1), what="the status during an endless wave")
    assert wave.on and wave.asked > 1
