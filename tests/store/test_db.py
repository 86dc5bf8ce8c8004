from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from bot.errors import StoreError
from bot.store.db import Database, Migration, load_migrations

TABLES = {
    "chargers",
    "connector_status",
    "sessions",
    "invoices",
    "refunds",
    "outbox",
    "outbox_results",
    "meter_log",
    "state",
    "schema_version",
}


async def test_migrates_an_empty_database(tmp_path: Path) -> None:
    path = tmp_path / "data" / "z.sqlite3"
    db = await Database.open(path)
    try:
        rows = await db.fetchall("SELECT name FROM sqlite_master WHERE type = 'table'")
        assert {r["name"] for r in rows} >= TABLES
        assert await db.schema_version() == load_migrations()[-1].version
        mode = await db.fetchone("PRAGMA journal_mode")
        assert mode is not None and mode[0] == "wal"
    finally:
        await db.close()


async def test_rerunning_migrations_is_a_no_op(tmp_path: Path) -> None:
    path = tmp_path / "z.sqlite3"
    db = await Database.open(path)
    await db.execute("INSERT INTO state (key, value) VALUES ('k', 'v')")
    await db.close()
    db = await Database.open(path)
    try:
        assert await db.migrate(load_migrations()) == []
        row = await db.fetchone("SELECT value FROM state WHERE key = 'k'")
        assert row is not None and row["value"] == "v"
        versions = await db.fetchall("SELECT version FROM schema_version")
        assert len(versions) == len(load_migrations())
    finally:
        await db.close()


async def test_a_lower_numbered_migration_that_lands_later_is_applied(tmp_path: Path) -> None:
    # Issues number their migrations in blocks: 0050 may be applied before 0012 exists.
    early = Migration(1, "one", "CREATE TABLE a (x INTEGER);\n")
    high = Migration(50, "fifty", "CREATE TABLE c (x INTEGER);\n")
    late = Migration(12, "twelve", "CREATE TABLE b (x INTEGER);\n")
    db = await Database.open(tmp_path / "z.sqlite3", migrations=[early, high])
    try:
        assert await db.migrate([early, late, high]) == [12]
        tables = {r["name"] for r in await db.fetchall("SELECT name FROM sqlite_master")}
        assert {"a", "b", "c"} <= tables
        assert await db.migrate([early, late, high]) == []
    finally:
        await db.close()


async def test_a_failing_migration_leaves_nothing_half_done(tmp_path: Path) -> None:
    good = Migration(1, "one", "CREATE TABLE a (x INTEGER);\n")
    bad = Migration(2, "two", "CREATE TABLE b (x INTEGER);\nCREATE TABLE a (x INTEGER);\n")
    db = await Database.open(tmp_path / "z.sqlite3", migrations=[good])
    try:
        with pytest.raises(StoreError, match="migration 0002 failed"):
            await db.migrate([good, bad])
        assert await db.schema_version() == 1
        tables = {r["name"] for r in await db.fetchall("SELECT name FROM sqlite_master")}
        assert "b" not in tables
    finally:
        await db.close()


async def test_transaction_rolls_back_on_error(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "z.sqlite3")
    try:
        with pytest.raises(RuntimeError):
            async with db.transaction() as tx:
                await tx.execute("INSERT INTO state (key, value) VALUES ('a', '1')")
                raise RuntimeError("boom")
        assert await db.fetchone("SELECT * FROM state WHERE key = 'a'") is None
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO state (key, value) VALUES ('a', '2')")
        row = await db.fetchone("SELECT value FROM state WHERE key = 'a'")
        assert row is not None and row["value"] == "2"
    finally:
        await db.close()


async def test_unique_refund_per_session_is_enforced(tmp_path: Path) -> None:
    # The claim-before-pay rule rests on this constraint.
    db = await Database.open(tmp_path / "z.sqlite3")
    try:
        await db.execute(
            "INSERT INTO sessions (id, charger_id, connector_id, state, token, id_tag, quote,"
            " created_at, updated_at) VALUES ('s1', 'cp', 1, 'refunding', 't', 'tag', '{}', 0, 0)"
        )
        insert = (
            "INSERT INTO refunds (session_id, amount_msat, method, status, created_at, updated_at)"
            " VALUES ('s1', 1000, 'withdraw', 'claimed', 0, 0)"
        )
        await db.execute(insert)
        with pytest.raises(Exception, match="UNIQUE"):
            await db.execute(insert)
    finally:
        await db.close()


async def test_statements_arriving_together_share_one_commit(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "z.sqlite3")
    commits: list[str] = []
    # Counting what reaches SQLite, on the store's own connection.
    await db._conn.set_trace_callback(lambda sql: commits.append(sql) if sql == "COMMIT" else None)
    try:
        await asyncio.gather(
            *(
                db.execute("INSERT INTO state (key, value) VALUES (?, 'v')", (f"k{n}",))
                for n in range(100)
            )
        )
        rows = await db.fetchall("SELECT key FROM state")
        assert len(rows) == 100
        assert 1 <= len(commits) <= 3  # the first alone, then everyone who queued meanwhile
    finally:
        await db.close()


async def test_a_failing_statement_fails_alone_in_its_group(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "z.sqlite3")
    try:
        await db.execute("INSERT INTO state (key, value) VALUES ('taken', 'v')")
        results = await asyncio.gather(
            db.execute("INSERT INTO state (key, value) VALUES ('a', 'v')"),
            db.execute("INSERT INTO state (key, value) VALUES ('taken', 'again')"),
            db.insert("INSERT INTO state (key, value) VALUES ('b', 'v')"),
            return_exceptions=True,
        )
        assert results[0] == 1
        assert isinstance(results[1], sqlite3.IntegrityError)
        assert isinstance(results[2], int) and results[2] > 0
        rows = await db.fetchall("SELECT key, value FROM state ORDER BY key")
        assert [(r["key"], r["value"]) for r in rows] == [("a", "v"), ("b", "v"), ("taken", "v")]
    finally:
        await db.close()


async def test_a_cancelled_caller_does_not_lose_the_group_it_was_writing(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "z.sqlite3")
    try:
        first = asyncio.ensure_future(
            db.execute("INSERT INTO state (key, value) VALUES ('1', 'v')")
        )
        others = [
            asyncio.ensure_future(
                db.execute("INSERT INTO state (key, value) VALUES (?, 'v')", (str(n),))
            )
            for n in range(2, 6)
        ]
        await asyncio.sleep(0)
        first.cancel()
        assert await asyncio.gather(*others) == [1, 1, 1, 1]
        rows = await db.fetchall("SELECT key FROM state ORDER BY key")
        assert [r["key"] for r in rows] == ["1", "2", "3", "4", "5"]
    finally:
        await db.close()
