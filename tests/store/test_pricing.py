from __future__ import annotations

from pathlib import Path

from bot.store import Database
from bot.store.pricing import CachedFeed, PriceFeedCache


async def test_last_good_document_is_kept_per_kind_and_url(tmp_path: Path) -> None:
    async with await Database.open(tmp_path / "z.sqlite3") as db:
        cache = PriceFeedCache(db)
        assert await cache.load("spot", "http://a") is None
        await cache.save("spot", "http://a", "one", 1.0)
        await cache.save("spot", "http://a", "two", 2.0)
        await cache.save("rate", "http://a", "rate", 3.0)
        assert await cache.load("spot", "http://a") == CachedFeed("two", 2.0)
        assert await cache.load("rate", "http://a") == CachedFeed("rate", 3.0)
