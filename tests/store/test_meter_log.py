from __future__ import annotations

import asyncio
import hashlib
import json

import pytest

from bot.store import Database
from bot.store.meter_log import (
    GENESIS,
    VERSION,
    MeterLog,
    MeterRecord,
    chain_for,
    record_hash,
    transaction_chain,
    verify_chain,
)


def reading(n: int, *, transaction_id: int | None = 7, energy: float | None = None) -> MeterRecord:
    return MeterRecord(
        chain=chain_for("cp-1", 1, transaction_id),
        charger_id="cp-1",
        connector_id=1,
        transaction_id=transaction_id,
        sampled_at=f"2025-01-01T00:00:{n:02d}Z",
        received_at=1_700_000_000.25 + n,
        context="Sample.Periodic",
        energy_wh=1000 + n if energy is None else energy,
        power_w=11000.0,
        soc_percent=None,
        raw=json.dumps({"n": n, "signed": "Ab+/=="}),
    )


def test_the_hash_is_the_documented_encoding() -> None:
    record = reading(1)
    expected = json.dumps(
        [
            VERSION,
            "tx:7",
            GENESIS,
            "cp-1",
            1,
            7,
            "2025-01-01T00:00:01Z",
            1_700_000_001.25,
            "Sample.Periodic",
            1001.0,
            11000.0,
            None,
            record.raw,
        ],
        separators=(",", ":"),
        ensure_ascii=False,
    )
    assert record_hash(record, GENESIS) == hashlib.sha256(expected.encode()).hexdigest()


def test_chains_are_per_transaction_or_per_connector() -> None:
    assert chain_for("cp-1", 2, 55) == transaction_chain(55) == "tx:55"
    assert chain_for("cp-1", 2, None) == "cp:cp-1:2"


async def test_appended_rows_link_up_and_verify(db: Database) -> None:
    log = MeterLog(db)
    await log.append([reading(1), reading(2)])
    await log.append([reading(3, transaction_id=None)])
    await log.append([reading(4)])
    verdict = await verify_chain(db, "tx:7")
    assert verdict.ok, verdict.problems
    assert verdict.length == 3
    rows = await db.fetchall(
        "SELECT prev_hash, hash FROM meter_log WHERE chain = 'tx:7' ORDER BY id"
    )
    assert rows[0]["prev_hash"] == GENESIS
    assert [r["prev_hash"] for r in rows[1:]] == [r["hash"] for r in rows[:-1]]
    assert verdict.head == rows[-1]["hash"]
    assert (await verify_chain(db, "cp:cp-1:1")).length == 1
    assert [r.energy_wh for r in await log.records("tx:7")] == [1001.0, 1002.0, 1004.0]


async def test_an_empty_chain_verifies(db: Database) -> None:
    verdict = await verify_chain(db, "tx:404")
    assert verdict.ok and verdict.length == 0 and verdict.head == GENESIS


async def chain_of_five(db: Database) -> MeterLog:
    log = MeterLog(db)
    for n in range(5):
        await log.append([reading(n)])
    assert (await verify_chain(db, "tx:7")).ok
    return log


async def ids(db: Database) -> list[int]:
    return [r["id"] for r in await db.fetchall("SELECT id FROM meter_log ORDER BY id")]


async def test_an_edited_row_is_found(db: Database) -> None:
    await chain_of_five(db)
    await db.execute("UPDATE meter_log SET energy_wh = 999 WHERE id = ?", ((await ids(db))[2],))
    verdict = await verify_chain(db, "tx:7")
    assert not verdict.ok
    assert any("content does not match" in p for p in verdict.problems)


async def test_edited_signed_data_is_found(db: Database) -> None:
    await chain_of_five(db)
    await db.execute("UPDATE meter_log SET raw = replace(raw, 'Ab+', 'Ac+')")
    assert not (await verify_chain(db, "tx:7")).ok


@pytest.mark.parametrize("position", [0, 2, 4])
async def test_a_deleted_row_is_found(db: Database, position: int) -> None:
    await chain_of_five(db)
    await db.execute("DELETE FROM meter_log WHERE id = ?", ((await ids(db))[position],))
    verdict = await verify_chain(db, "tx:7")
    assert not verdict.ok, position


async def test_reordered_rows_are_found(db: Database) -> None:
    await chain_of_five(db)
    first, second = (await ids(db))[1:3]
    # Swap two rows' places by exchanging their ids.
    async with db.transaction() as tx:
        await tx.execute("UPDATE meter_log SET id = -1 WHERE id = ?", (first,))
        await tx.execute("UPDATE meter_log SET id = ? WHERE id = ?", (first, second))
        await tx.execute("UPDATE meter_log SET id = ? WHERE id = -1", (second,))
    verdict = await verify_chain(db, "tx:7")
    assert any("does not follow" in p for p in verdict.problems)


async def test_a_row_moved_to_another_chain_is_found(db: Database) -> None:
    await chain_of_five(db)
    await db.execute(
        "UPDATE meter_log SET chain = 'tx:8', transaction_id = 8 WHERE id = ?",
        ((await ids(db))[4],),
    )
    assert not (await verify_chain(db, "tx:7")).ok
    assert not (await verify_chain(db, "tx:8")).ok


async def test_session_link_is_outside_the_hash(db: Database) -> None:
    log = await chain_of_five(db)
    assert await log.link_session(7, "session-1") == 5
    assert (await verify_chain(db, "tx:7")).ok


async def test_concurrent_appends_are_group_committed_in_order(db: Database) -> None:
    log = MeterLog(db)
    statements = 0

    def count(_: str) -> None:
        nonlocal statements
        statements += 1

    await db._conn.set_trace_callback(count)
    writers = [log.append([reading(n, transaction_id=100 + n % 5)]) for n in range(50)]
    await asyncio.gather(*writers)
    await db._conn.set_trace_callback(None)
    for tx in range(100, 105):
        verdict = await verify_chain(db, f"tx:{tx}")
        assert verdict.ok and verdict.length == 10
    assert statements < 50, "50 appends should share transactions"


async def test_a_failed_batch_fails_every_writer_in_it(db: Database) -> None:
    log = MeterLog(db)
    good = reading(1)
    await log.append([good])
    # The same row again has the same hash only if appended at the same place: force a
    # UNIQUE violation by replaying the exact stored row into the head's position.
    await db.execute("UPDATE meter_chain_heads SET length = 0, head = ?", (GENESIS,))
    results = await asyncio.gather(
        log.append([good]), log.append([reading(2)]), return_exceptions=True
    )
    assert all(isinstance(r, Exception) for r in results)
    # The writer recovers: the next batch is written.
    await db.execute("DELETE FROM meter_log")
    await db.execute("DELETE FROM meter_chain_heads")
    await log.append([reading(3)])
    assert (await verify_chain(db, "tx:7")).length == 1
