"""One aiosqlite connection in WAL mode, numbered migrations, and serialised transactions.

Migrations are ``migrations/NNNN_name.sql`` files applied in number order, each inside one
transaction together with its row in ``schema_version``; re-running is a no-op.

Single statements (:meth:`Database.execute`, :meth:`Database.insert`) are group-committed:
each is durable when it returns, but the statements of every caller that arrived while a
commit was being written share the next one. With ``synchronous=FULL`` a commit is one
fdatasync; a thousand chargers reconnecting at once cost a few dozen, not a thousand. A
statement that fails is reported to its own caller only: SQLite undoes just that statement
and the others of the group still commit.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager, suppress
from importlib import resources
from pathlib import Path
from typing import Any

import aiosqlite

from bot.errors import StoreError

__all__ = ["Database", "Migration", "load_migrations"]

log = logging.getLogger(__name__)

MIGRATION_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
Row = aiosqlite.Row


class Migration:
    __slots__ = ("name", "sql", "version")

    def __init__(self, version: int, name: str, sql: str) -> None:
        self.version, self.name, self.sql = version, name, sql


def load_migrations() -> list[Migration]:
    """Every migration shipped in ``bot/store/migrations``, in version order."""
    found: dict[int, Migration] = {}
    for entry in resources.files("bot.store").joinpath("migrations").iterdir():
        match = MIGRATION_NAME.match(entry.name)
        if not match:
            continue
        version = int(match.group(1))
        if version in found:
            raise StoreError(f"two migrations numbered {version:04d}")
        found[version] = Migration(version, match.group(2), entry.read_text(encoding="utf-8"))
    return [found[v] for v in sorted(found)]


class Database:
    """The store's one connection. Use :meth:`open` and :meth:`close` (or ``async with``)."""

    def __init__(self, path: Path, connection: aiosqlite.Connection) -> None:
        self.path = path
        self._conn = connection
        # aiosqlite runs statements one at a time on its thread, but a transaction spans
        # several awaits: this lock keeps other coroutines' statements out of it.
        self._lock = asyncio.Lock()
        self._group: list[_Statement] = []
        self._group_writing = False

    @classmethod
    async def open(cls, path: Path, migrations: Iterable[Migration] | None = None) -> Database:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = await aiosqlite.connect(path, isolation_level=None)
        conn.row_factory = aiosqlite.Row
        db = cls(path, conn)
        try:
            await conn.execute("PRAGMA journal_mode=WAL")
            await conn.execute("PRAGMA synchronous=FULL")  # money rows survive power loss
            await conn.execute("PRAGMA foreign_keys=ON")
            await conn.execute("PRAGMA busy_timeout=5000")
            await db.migrate(load_migrations() if migrations is None else list(migrations))
        except BaseException:
            await conn.close()
            raise
        return db

    async def close(self) -> None:
        async with self._lock:
            await self._conn.close()

    async def __aenter__(self) -> Database:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def schema_version(self) -> int:
        await self._conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version ("
            " version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
            " applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')))"
        )
        async with self._conn.execute("SELECT MAX(version) FROM schema_version") as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    async def migrate(self, migrations: Sequence[Migration]) -> list[int]:
        """Apply, in number order, every migration not applied yet; return their versions.

        Not only those above the highest applied: work in parallel numbers its migrations
        in blocks of its own (0011-0019, ..., 0050-0059), so a database that already has
        0050 must still get an 0012 that is merged after it.
        """
        applied: list[int] = []
        async with self._lock:
            await self.schema_version()  # creates the table on a new database
            async with self._conn.execute("SELECT version FROM schema_version") as cursor:
                done = {int(row[0]) for row in await cursor.fetchall()}
            for migration in migrations:
                if migration.version in done:
                    continue
                log.info("applying migration %04d_%s", migration.version, migration.name)
                await self._apply(migration)
                applied.append(migration.version)
        return applied

    async def _apply(self, migration: Migration) -> None:
        # executescript would commit on its own; run statement by statement inside BEGIN.
        await self._conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _split_sql(migration.sql):
                await self._conn.execute(statement)
            await self._conn.execute(
                "INSERT INTO schema_version (version, name) VALUES (?, ?)",
                (migration.version, migration.name),
            )
        except BaseException as exc:
            await self._conn.execute("ROLLBACK")
            if isinstance(exc, aiosqlite.Error):
                raise StoreError(f"migration {migration.version:04d} failed: {exc}") from exc
            raise
        await self._conn.execute("COMMIT")

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT``; rolls back if the block raises."""
        async with self._lock:
            await self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield Transaction(self._conn)
            except BaseException:
                await self._conn.execute("ROLLBACK")
                raise
            await self._conn.execute("COMMIT")

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement, committed when this returns (group commit); the rowcount."""
        return await self._grouped(_Statement(sql, params, rowid=False))

    async def insert(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one INSERT, committed when this returns (group commit); the new rowid."""
        return await self._grouped(_Statement(sql, params, rowid=True))

    async def _grouped(self, statement: _Statement) -> int:
        self._group.append(statement)
        if not self._group_writing:
            # The first caller writes for everyone who queues meanwhile. Shielded: if this
            # caller is cancelled, the group it carries is still written and answered.
            self._group_writing = True
            await asyncio.shield(self._write_groups())
        return await statement.done

    async def _write_groups(self) -> None:
        try:
            while self._group:
                group, self._group = self._group, []
                await self._write_group(group)
        finally:
            self._group_writing = False
            for statement in self._group:  # only after a failure of the writer itself
                statement.fail(StoreError("the database writer stopped"))
            self._group = []

    async def _write_group(self, group: Sequence[_Statement]) -> None:
        async with self._lock:
            try:
                results = await self._on_thread(_commit_group, group)
            except BaseException as exc:
                if self._conn.in_transaction:
                    with suppress(aiosqlite.Error):
                        await self._conn.execute("ROLLBACK")
                for statement in group:
                    statement.fail(exc)
                if not isinstance(exc, Exception):
                    raise
                return
        for statement, result in zip(group, results, strict=True):
            statement.settle(result)

    async def _on_thread(
        self,
        work: Callable[[sqlite3.Connection, Sequence[_Statement]], list[int | Exception]],
        group: Sequence[_Statement],
    ) -> list[int | Exception]:
        """``work`` on aiosqlite's database thread, in one hop: a group of N statements
        cost 2N + 2 hops (each a wake-up of both threads) through its public calls, and a
        wave of 10,000 connecting chargers writes a few of them each. aiosqlite (this
        module is its one seam) has no public call for it; ``_execute`` is what all of
        its own calls use."""
        connection = self._conn
        return await connection._execute(work, connection._conn, group)  # type: ignore[no-untyped-call,no-any-return]

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        async with self._lock:
            return await Transaction(self._conn).fetchone(sql, params)

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        async with self._lock:
            return await Transaction(self._conn).fetchall(sql, params)


class _Statement:
    """One queued statement of a group commit and the future its caller waits on."""

    __slots__ = ("done", "params", "rowid", "sql")

    def __init__(self, sql: str, params: Sequence[Any], *, rowid: bool) -> None:
        self.sql, self.params, self.rowid = sql, params, rowid
        self.done: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    def settle(self, result: int | BaseException) -> None:
        if self.done.done():
            return
        if isinstance(result, BaseException):
            self.done.set_exception(result)
        else:
            self.done.set_result(result)

    def fail(self, exc: BaseException) -> None:
        error = exc if isinstance(exc, Exception) else StoreError("database write interrupted")
        self.settle(error)
        if self.done.done() and not self.done.cancelled():
            self.done.exception()  # marked retrieved: a caller that was cancelled never reads it


def _commit_group(conn: sqlite3.Connection, group: Sequence[_Statement]) -> list[int | Exception]:
    """On the database thread: BEGIN, every statement of the group, COMMIT."""
    conn.execute("BEGIN IMMEDIATE")
    results = [_run(conn, statement) for statement in group]
    conn.execute("COMMIT")
    return results


def _run(conn: sqlite3.Connection, statement: _Statement) -> int | Exception:
    """Run one statement of a group; its own error is its result (SQLite undid only it)."""
    try:
        cursor = conn.execute(statement.sql, statement.params)
    except sqlite3.Error as exc:
        if not conn.in_transaction:  # an error that ended the whole transaction
            raise
        return exc
    result = cursor.lastrowid if statement.rowid else cursor.rowcount
    cursor.close()
    return int(result or 0)


class Transaction:
    """Statements on the connection; inside :meth:`Database.transaction` they share its BEGIN."""

    def __init__(self, connection: aiosqlite.Connection) -> None:
        self._conn = connection

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        cursor = await self._conn.execute(sql, params)
        count = cursor.rowcount
        await cursor.close()
        return count

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """One statement for many rows in one hop to the database thread (not one each)."""
        cursor = await self._conn.executemany(sql, rows)
        await cursor.close()

    async def insert(self, sql: str, params: Sequence[Any] = ()) -> int:
        cursor = await self._conn.execute(sql, params)
        rowid = cursor.lastrowid
        await cursor.close()
        return int(rowid or 0)

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        async with self._conn.execute(sql, params) as cursor:
            return await cursor.fetchone()

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        # One hop to the database thread (execute, fetch and close there), not three: a
        # connect reads a few rows, and each hop is a thread wake-up on both sides.
        return list(await self._conn.execute_fetchall(sql, params))


def _split_sql(script: str) -> list[str]:
    """Split a migration on ';' at line ends. Migrations keep one statement per ';\\n'."""
    lines = [line for line in script.splitlines() if not line.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";\n") if s.strip().rstrip(";").strip()]
