"""The price feed cache: the last good document of each feed, by kind and URL."""

from __future__ import annotations

from dataclasses import dataclass

from bot.store.db import Database

__all__ = ["CachedFeed", "PriceFeedCache"]


@dataclass(frozen=True)
class CachedFeed:
    body: str
    fetched_at: float  # unix seconds


class PriceFeedCache:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def load(self, kind: str, url: str) -> CachedFeed | None:
        row = await self.db.fetchone(
            "SELECT body, fetched_at FROM price_feeds WHERE kind = ? AND url = ?", (kind, url)
        )
        return CachedFeed(row["body"], float(row["fetched_at"])) if row else None

    async def save(self, kind: str, url: str, body: str, fetched_at: float) -> None:
        await self.db.execute(
            "INSERT INTO price_feeds (kind, url, body, fetched_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT(kind, url) DO UPDATE SET body = excluded.body,"
            " fetched_at = excluded.fetched_at",
            (kind, url, body, fetched_at),
        )
