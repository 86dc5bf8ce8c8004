from __future__ import annotations

from pathlib import Path

import pytest

from bot.nostr.addresses import AddressBook
from bot.store import Database
from bot.store.nostr import NostrStateStore


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def test_created_at_strictly_increases_and_survives_a_restart(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "z.sqlite3")
    try:
        clock = Clock(1000.4)
        book = AddressBook(NostrStateStore(db), clock)
        with pytest.raises(RuntimeError):
            book.next_created_at("33600:pk:cp")
        await book.load()
        first = book.next_created_at("33600:pk:cp")
        second = book.next_created_at("33600:pk:cp")  # same second: still newer
        assert (first, second) == (1000, 1001)
        assert book.next_created_at("0:pk:") == 1000  # addresses are independent
        await book.published_many([("33600:pk:cp", second, "fp", 1900.0)])
        # Restart with the wall clock stepped back: never older than what relays hold.
        clock.now = 900.0
        again = AddressBook(NostrStateStore(db), clock)
        await again.load()
        state = again.get("33600:pk:cp")
        assert state is not None and (state.fingerprint, state.expires_at) == ("fp", 1900.0)
        assert again.next_created_at("33600:pk:cp") == 1002
        clock.now = 5000.0
        assert again.next_created_at("33600:pk:cp") == 5000
    finally:
        await db.close()
