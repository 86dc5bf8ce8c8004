from __future__ import annotations

from bot.store import Database
from bot.store.chargers import ChargerStore
from bot.store.notify import NotifyStore


async def test_one_waiting_request_per_driver_and_charger(db: Database) -> None:
    await ChargerStore(db).register([("cp-001", "a" * 64), ("cp-002", "c" * 64)])
    store = NotifyStore(db, clock=lambda: 100.0)
    assert await store.add("cp-001", "d1", 200.0)
    assert not await store.add("cp-001", "d1", 300.0)  # already waiting there
    assert await store.add("cp-002", "d1", 200.0)
    assert await store.add("cp-001", "d2", 200.0)
    first, second = await store.waiting("cp-001")
    assert (first.driver_pubkey, second.driver_pubkey) == ("d1", "d2")  # first asked, first
    assert [r.charger_id for r in await store.waiting_of("d1")] == ["cp-001", "cp-002"]
    assert await store.move(first.id, "waiting", "told")
    assert not await store.move(first.id, "waiting", "cancelled")  # one winner
    assert await store.last_told_at("cp-001") == 100.0
    assert await store.last_told_at("cp-002") is None
    # Told, the driver may ask again for the same charger.
    assert await store.add("cp-001", "d1", 400.0)
