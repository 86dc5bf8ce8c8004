from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from bot.store import Database
from bot.store.meter_log import MeterLog, MeterRecord, transaction_chain, verify_chain
from bot.store.transactions import NewTransaction, TransactionStop, TransactionStore


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "z.sqlite3")
    await database.execute("INSERT INTO chargers (id, pubkey) VALUES ('cp-1', 'ab')")
    try:
        yield database
    finally:
        await database.close()


def new(tag: str = "tag-1", meter: int = 1000, at: str = "2025-01-01T00:00:00Z") -> NewTransaction:
    return NewTransaction("cp-1", 1, tag, True, meter, at, 1_700_000_000.0)


def begin(transaction_id: int) -> Sequence[MeterRecord]:
    return [
        MeterRecord(
            transaction_chain(transaction_id),
            "cp-1",
            1,
            transaction_id,
            "2025-01-01T00:00:00Z",
            1.0,
            "Transaction.Begin",
            1000.0,
            None,
            None,
            "{}",
        )
    ]


async def test_ids_are_unique_and_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "restart.sqlite3"
    ids = []
    for tag in ("a", "b"):
        db = await Database.open(path)
        try:
            await db.execute("INSERT OR IGNORE INTO chargers (id, pubkey) VALUES ('cp-1', 'ab')")
            await db.execute("DELETE FROM transactions")  # even a deleted id is not reused
            row, created = await TransactionStore(db, MeterLog(db)).start(new(tag), begin)
            assert created and row.open
            ids.append(row.id)
        finally:
            await db.close()
    assert ids[1] > ids[0] >= 1


async def test_a_repeated_start_gets_the_same_id(db: Database) -> None:
    store = TransactionStore(db, MeterLog(db))
    first, _ = await store.start(new(), begin)
    again, created = await store.start(new(), begin)
    assert (again.id, created) == (first.id, False)
    other, created = await store.start(new(at="2025-01-01T00:05:00Z"), begin)
    assert created and other.id != first.id
    assert (await verify_chain(db, transaction_chain(first.id))).length == 1


async def test_stop_writes_row_and_readings_together(db: Database) -> None:
    log = MeterLog(db)
    store = TransactionStore(db, log)
    row, _ = await store.start(new(), begin)
    assert (await store.open_with_tag("tag-1")) == row
    stop = TransactionStop(5000, "2025-01-01T01:00:00Z", 1_700_003_600.0, "Remote", "tag-1")
    stopped = await store.stop(row.id, stop, begin(row.id))
    assert stopped is not None and not stopped.open and stopped.meter_stop_wh == 5000
    assert stopped.same_stop(stop)
    assert await store.stop(row.id, stop, begin(row.id)) is None  # already stopped
    assert await store.open_of("cp-1") == []
    assert await store.open_with_tag("tag-1") is None
    assert (await store.latest_on("cp-1", 1)) == stopped
    assert (await verify_chain(db, transaction_chain(row.id))).length == 2


async def test_a_charger_without_open_transactions_is_asked_of_sqlite_once(db: Database) -> None:
    store = TransactionStore(db, MeterLog(db))
    selects: list[str] = []
    # Counting what reaches SQLite, on the store's own connection.
    await db._conn.set_trace_callback(
        lambda sql: selects.append(sql) if "stopped_at IS NULL" in sql else None
    )
    assert await store.open_of("cp-1") == []
    assert await store.open_of("cp-1") == []
    assert len(selects) == 1  # the second connect of the charger cost no query
    row, _ = await store.start(new(), begin)
    assert [r.id for r in await store.open_of("cp-1")] == [row.id]
    await store.stop(row.id, TransactionStop(1500, "2025-01-01T01:00:00Z", 1.0, "Local", None), [])
    assert await store.open_of("cp-1") == []
