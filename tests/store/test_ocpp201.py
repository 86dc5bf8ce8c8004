"""The 2.0.1 bookkeeping store: links, seqNos group-committed with their readings, remote
starts; on a real SQLite file."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from bot.store import Database
from bot.store.db import Transaction
from bot.store.meter_log import MeterLog, MeterRecord, transaction_chain, verify_chain
from bot.store.ocpp201 import EventRecord, Ocpp201Store, TxLink
from bot.store.transactions import NewTransaction, TransactionStore


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "z.sqlite3")
    await database.execute("INSERT INTO chargers (id, pubkey) VALUES ('cp-1', 'ab')")
    try:
        yield database
    finally:
        await database.close()


async def _opened(db: Database, store: Ocpp201Store, tx_name: str, evse: int) -> int:
    transactions = TransactionStore(db, MeterLog(db))
    new = NewTransaction("cp-1", evse, "", False, 0, f"2025-01-01T00:00:0{evse}Z", 1.0)
    link = TxLink(0, "cp-1", tx_name, evse, 1, None, None, None)

    async def linked(tx: Transaction, transaction_id: int) -> None:
        await store.link_in(tx, replace(link, transaction_id=transaction_id))

    row, created = await transactions.start(new, lambda _: [], linked)
    assert created
    return row.id


def _event(seq_no: int) -> EventRecord:
    return EventRecord(seq_no, "Updated", "MeterValuePeriodic", False, "2025-01-01T00:01:00Z", 2.0)


def _reading(transaction_id: int, energy: float) -> list[MeterRecord]:
    return [
        MeterRecord(
            transaction_chain(transaction_id),
            "cp-1",
            1,
            transaction_id,
            "2025-01-01T00:01:00Z",
            2.0,
            "Sample.Periodic",
            energy,
            None,
            None,
            "{}",
        )
    ]


async def test_many_stations_in_one_group_commit(db: Database) -> None:
    log = MeterLog(db)
    store = Ocpp201Store(db, log)
    ids = [await _opened(db, store, f"TX-{n}", n) for n in (1, 2, 3)]
    results = await asyncio.gather(
        *(store.take_event(t, _event(0), 100.0 * t, _reading(t, 100.0 * t)) for t in ids)
    )
    assert [outcome.new for outcome, _ in results] == [True, True, True]
    assert [link.first_energy_wh for _, link in results] == [100.0 * t for t in ids]
    for t in ids:
        verdict = await verify_chain(db, transaction_chain(t))
        assert verdict.ok and verdict.length == 1


async def test_repeats_gaps_and_late_events(db: Database) -> None:
    log = MeterLog(db)
    store = Ocpp201Store(db, log)
    t = await _opened(db, store, "TX-9", 1)
    first, link = await store.take_event(t, _event(0), 10.0, _reading(t, 10.0))
    assert first.new and first.highest_before is None and link.last_energy_wh == 10.0
    again, _ = await store.take_event(t, _event(0), 10.0, _reading(t, 10.0))
    assert not again.new  # answered, not applied: the chain stays one long
    jump, link = await store.take_event(t, _event(3), 40.0, _reading(t, 40.0))
    assert jump.missing == (1, 2) and link.last_energy_wh == 40.0
    late, link = await store.take_event(t, _event(1), 20.0, _reading(t, 20.0))
    assert late.new and late.late and late.missing == ()
    assert (link.first_energy_wh, link.last_energy_wh) == (10.0, 40.0)  # not the late one
    assert (await verify_chain(db, transaction_chain(t))).length == 3
    assert await store.link_of("cp-1", "TX-9") == link
    assert await store.link_by_id(t) == link


async def test_remote_starts_are_numbered_and_never_reused(db: Database) -> None:
    store = Ocpp201Store(db, MeterLog(db))
    one = await store.remote_start_sent("cp-1", "TOKEN-A", 1, 1.0)
    two = await store.remote_start_sent("cp-1", "TOKEN-A", 2, 2.0)
    assert two > one
    found = await store.remote_start("cp-1", one)
    assert found is not None and (found.id_token, found.evse_id) == ("TOKEN-A", 1)
    assert await store.remote_start("cp-2", one) is None  # another charger's number
    newest = await store.remote_start_of("cp-1", "TOKEN-A")
    assert newest is not None and newest.evse_id == 2
