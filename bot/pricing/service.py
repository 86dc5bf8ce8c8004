"""The pricing service: keeps every price feed fresh and answers prices per charger.

``run`` restores the last good data from the store, then runs one refresh loop per feed
inside its own TaskGroup: fetch, then sleep the feed's refresh interval, or after a failure
an exponential backoff with jitter (5 s doubling, capped at the refresh interval and at
5 minutes). A feed that keeps failing never stops the bot: its sources price from the last
good data, then from the static price, and say so. HTTP goes through :class:`HttpFetcher`
(aiohttp), the one seam to the network, handed in so tests and the CLI choose it.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime
from typing import Any

import aiohttp

from bot.config import ChargerConfig
from bot.config.pricing import StaticPricing
from bot.errors import PriceFeedUnavailable, PricingError
from bot.pricing.book import Clock, FeedBook, Fetch, build_source
from bot.pricing.feeds import Feed
from bot.pricing.point import PricePoint, PriceSource
from bot.store.pricing import PriceFeedCache

__all__ = ["HttpFetcher", "PricingService", "http_fetcher"]

log = logging.getLogger(__name__)
MAX_BODY = 1 << 20  # a day of 15-minute prices is a few kB; anything near this is garbage
BACKOFF_CAP_S = 300.0


class HttpFetcher:
    """GET a URL and return its text; HTTP and network trouble become PriceFeedUnavailable."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session

    async def __call__(self, url: str, timeout_s: float) -> str:
        try:
            async with self.session.get(
                url, timeout=aiohttp.ClientTimeout(total=timeout_s), allow_redirects=False
            ) as response:
                if response.status != 200:
                    raise PriceFeedUnavailable(f"HTTP {response.status}")
                body = await response.content.read(MAX_BODY + 1)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise PriceFeedUnavailable(f"{type(exc).__name__}: {exc}".rstrip(": ")) from None
        if len(body) > MAX_BODY:
            raise PricingError(f"answer larger than {MAX_BODY} bytes")
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError:
            raise PricingError("answer is not UTF-8 text") from None


@asynccontextmanager
async def http_fetcher() -> AsyncIterator[Fetch]:
    async with aiohttp.ClientSession(headers={"User-Agent": "zapcharge-pricing"}) as session:
        yield HttpFetcher(session)


class PricingService:
    """Per-charger tariff sources and the refresh loops of their feeds."""

    name = "pricing"

    def __init__(
        self,
        sources: Mapping[str, PriceSource],
        book: FeedBook,
        *,
        fetcher: Callable[[], AbstractAsyncContextManager[Fetch]] = http_fetcher,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        jitter: Callable[[], float] = random.random,
        backoff_base_s: float = 5.0,
    ) -> None:
        self.sources = dict(sources)
        self.book = book
        self._fetcher, self._sleep, self._jitter = fetcher, sleep, jitter
        self.backoff_base_s = backoff_base_s
        self._listeners: list[Callable[[], None]] = []
        self._first_round = asyncio.Event()
        self._first_round.set()  # nothing to wait for until run() starts fetching

    def on_change(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` after every fetch: the price of the moment may have moved."""
        self._listeners.append(listener)

    async def first_round(self) -> None:
        """Return once every feed has been fetched once (or failed), or at once if idle."""
        await self._first_round.wait()

    @classmethod
    def from_chargers(
        cls,
        chargers: Iterable[ChargerConfig],
        cache: PriceFeedCache | None,
        *,
        clock: Clock = time.time,
        **options: Any,
    ) -> PricingService:
        book = FeedBook(cache, clock)
        sources = {
            c.id: build_source(
                c.id, c.pricing or StaticPricing(c.tariff.price_msat_per_kwh), book, clock
            )
            for c in chargers
        }
        return cls(sources, book, **options)

    async def fleet_changed(
        self, serving: Sequence[ChargerConfig], known: Sequence[ChargerConfig]
    ) -> None:
        """:class:`~bot.ports.FleetListener`: sources for new and changed chargers. A reload
        never brings a new feed (``bot.fleet`` refuses spot and green changes): only static
        and schedule prices are built here, and they need no refresh loop."""
        del serving
        for charger in known:
            pricing = charger.pricing or StaticPricing(charger.tariff.price_msat_per_kwh)
            if pricing.kind in ("static", "schedule"):
                self.sources[charger.id] = build_source(
                    charger.id, pricing, self.book, self.book.clock
                )

    async def price_at(self, charger_id: str, when: datetime) -> PricePoint:
        """The price of ``charger_id`` at ``when`` (aware). KeyError for an unknown charger."""
        source = self.sources[charger_id]
        await self.book.ensure_loaded()
        return await source.price_at(when)

    async def refresh_once(self, fetch: Fetch) -> None:
        """Fetch every feed once, concurrently (the CLI does this; ``run`` loops)."""
        await self.book.ensure_loaded()
        await asyncio.gather(*(self.book.refresh(f, fetch) for f in self.book.feeds))

    async def run(self) -> None:
        feeds = self.book.feeds
        if feeds:  # before the first await: a status publisher started next must wait
            self._first_round.clear()
        try:
            await self.book.ensure_loaded()
            if not feeds:
                await asyncio.Event().wait()  # nothing to refresh: idle until cancelled
            pending = set(range(len(feeds)))
            async with self._fetcher() as fetch, asyncio.TaskGroup() as group:
                for index, feed in enumerate(feeds):
                    fetched = functools.partial(self._fetched, pending, index)
                    group.create_task(
                        self._loop(feed, fetch, fetched), name=f"pricing {feed.key.kind}"
                    )
        finally:
            self._first_round.set()

    def _fetched(self, pending: set[int], index: int) -> None:
        pending.discard(index)
        if not pending:
            self._first_round.set()
        for listener in self._listeners:
            listener()

    async def _loop(self, feed: Feed[Any], fetch: Fetch, fetched: Callable[[], None]) -> None:
        while True:
            ok = await self.book.refresh(feed, fetch)
            fetched()
            await self._sleep(feed.refresh_s if ok else self.backoff(feed))

    def backoff(self, feed: Feed[Any]) -> float:
        """Seconds before retrying a failing feed: doubling, capped, with +-20 % jitter."""
        cap = min(feed.refresh_s, BACKOFF_CAP_S)
        delay = min(cap, self.backoff_base_s * 2.0 ** min(feed.failures - 1, 16))
        return delay * (0.8 + 0.4 * self._jitter())
