from __future__ import annotations

from pathlib import Path

from bot.store.db import Database
from bot.store.lnurl import LnurlStore


async def test_zap_replays_and_unclaimed_money(tmp_path: Path) -> None:
    async with await Database.open(tmp_path / "z.sqlite3") as db:
        store = LnurlStore(db)
        assert await store.reserve_zap_request("ab" * 32, "cd" * 32, 1.0)
        assert not await store.reserve_zap_request("ab" * 32, "cd" * 32, 2.0)

        kept = await store.record_unclaimed(
            "ef" * 32, label="zapcharge:pay:x", amount_msat=5, paid_at=3.0, reason="r", now=4.0
        )
        again = await store.record_unclaimed(
            "ef" * 32, label="zapcharge:pay:x", amount_msat=5, paid_at=3.0, reason="r", now=5.0
        )
        assert (kept, again) == (True, False)
        [unclaimed] = await store.unclaimed()
        assert (unclaimed.amount_msat, unclaimed.recorded_at, unclaimed.reason) == (5, 4.0, "r")
