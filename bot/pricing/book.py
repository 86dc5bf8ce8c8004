"""The feeds of every charger's tariff source, their persisted last good data, and the sources.

:func:`build_source` turns one charger's ``[pricing]`` into a
:class:`~bot.pricing.point.PriceSource`; chargers whose feeds are configured alike share
one :class:`~bot.pricing.feeds.Feed`. :class:`FeedBook` restores each feed's last good
document from the store once, fetches through a function handed in, and saves each good
document back, so that the data survives a restart.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any, TypeVar, cast

from bot.config.pricing import (
    GreenPricing,
    PricingConfig,
    RateFeed,
    SchedulePricing,
    SpotPricing,
    StaticPricing,
)
from bot.errors import PricingError
from bot.pricing.feeds import Feed, FeedKey
from bot.pricing.green import Forecast, GreenSource, parse_forecast
from bot.pricing.point import PriceSource
from bot.pricing.rate import FeedRate, FixedRate, RateProvider, parse_rate
from bot.pricing.schedule import ScheduleSource
from bot.pricing.spot import SpotSeries, SpotSource, parse_spot
from bot.pricing.static import StaticSource
from bot.store.pricing import PriceFeedCache

__all__ = ["Clock", "FeedBook", "Fetch", "build_source"]

log = logging.getLogger(__name__)
T = TypeVar("T")
Clock = Callable[[], float]
# fetch(url, timeout_s) -> body; raises PriceFeedUnavailable, or PricingError for garbage.
Fetch = Callable[[str, float], Awaitable[str]]


class FeedBook:
    """Every feed by key; restores from and saves to the store."""

    def __init__(self, cache: PriceFeedCache | None, clock: Clock) -> None:
        self.cache, self.clock = cache, clock
        self._feeds: dict[FeedKey, Feed[Any]] = {}
        self._loaded = False
        self._load_lock = asyncio.Lock()

    @property
    def feeds(self) -> list[Feed[Any]]:
        return list(self._feeds.values())

    def feed(
        self, key: FeedKey, parse: Callable[[str, float], T], *, refresh_s: float, timeout_s: float
    ) -> Feed[T]:
        existing = self._feeds.get(key)
        if existing is not None:
            # Shared by chargers configured alike: refresh as often as the most eager one.
            existing.refresh_s = min(existing.refresh_s, refresh_s)
            return cast(Feed[T], existing)
        feed = Feed(key, parse, refresh_s=refresh_s, timeout_s=timeout_s)
        self._feeds[key] = feed
        return feed

    async def ensure_loaded(self) -> None:
        """Restore every feed's last good document from the store, once."""
        async with self._load_lock:
            if self._loaded:
                return
            self._loaded = True
            if self.cache is None:
                return
            for feed in self._feeds.values():
                cached = await self.cache.load(feed.key.kind, feed.key.url)
                if cached is not None and feed.data is None:
                    feed.restore(cached.body, cached.fetched_at, self.clock())

    async def refresh(self, feed: Feed[Any], fetch: Fetch) -> bool:
        """Fetch one feed once; True when it gave good data (which is then saved)."""
        try:
            body = await fetch(feed.key.url, feed.timeout_s)
        except PricingError as exc:
            feed.fail(str(exc), self.clock())
            return False
        now = self.clock()
        try:
            feed.accept(body, now)
        except PricingError:
            return False  # the feed logged and counted it
        if self.cache is not None:
            await self.cache.save(feed.key.kind, feed.key.url, body, now)
        return True


def build_source(
    charger_id: str, config: PricingConfig, book: FeedBook, clock: Clock
) -> PriceSource:
    """The tariff source for one charger's pricing config; its feeds join ``book``."""
    if isinstance(config, StaticPricing):
        return StaticSource(config.price_msat_per_kwh)
    if isinstance(config, SchedulePricing):
        return ScheduleSource(config)
    if isinstance(config, SpotPricing):
        return _spot(charger_id, config, book, clock)
    return _green(charger_id, config, book, clock)


def _spot(charger_id: str, config: SpotPricing, book: FeedBook, clock: Clock) -> SpotSource:
    currency = config.currency

    def parse(body: str, now: float) -> SpotSeries:
        del now
        return parse_spot(body, currency)

    feed = book.feed(
        FeedKey("spot", config.url, (currency,)),
        parse,
        refresh_s=config.refresh_s,
        timeout_s=config.timeout_s,
    )
    rate: RateProvider
    if config.rate is not None:
        rate = FeedRate(_rate_feed(config.rate, book), config.rate, currency)
    else:
        assert config.fiat_per_btc is not None  # the config parser demands one of the two
        rate = FixedRate(config.fiat_per_btc, currency)
    return SpotSource(charger_id, config, feed, rate, clock)


def _rate_feed(config: RateFeed, book: FeedBook) -> Feed[Decimal]:
    def parse(body: str, now: float) -> Decimal:
        del now
        return parse_rate(body, config)

    params = (".".join(config.path), str(config.minimum), str(config.maximum))
    return book.feed(
        FeedKey("rate", config.url, params),
        parse,
        refresh_s=config.refresh_s,
        timeout_s=config.timeout_s,
    )


def _green(charger_id: str, config: GreenPricing, book: FeedBook, clock: Clock) -> GreenSource:
    def parse(body: str, now: float) -> Forecast:
        return parse_forecast(body, config, now)

    feed = book.feed(
        FeedKey("green", config.url, (config.signer, config.postcode, str(config.max_age_s))),
        parse,
        refresh_s=config.refresh_s,
        timeout_s=config.timeout_s,
    )
    return GreenSource(charger_id, config, feed, clock)
