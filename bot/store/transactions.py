"""OCPP transactions: the ids we hand out, their start and stop readings.

A transaction's start and stop are written together with their meter log rows, in one
SQLite transaction, so the ``transactions`` row and its hash chain never disagree.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bot.store.db import Database, Transaction
from bot.store.meter_log import MeterLog, MeterRecord

__all__ = ["NewTransaction", "TransactionRow", "TransactionStop", "TransactionStore"]


@dataclass(frozen=True)
class NewTransaction:
    charger_id: str
    connector_id: int
    id_tag: str
    authorized: bool
    meter_start_wh: int
    start_timestamp: str  # as the charger sent it
    started_at: float  # when we received it


@dataclass(frozen=True)
class TransactionStop:
    meter_stop_wh: int
    stop_timestamp: str
    stopped_at: float
    reason: str
    id_tag: str | None


@dataclass(frozen=True)
class TransactionRow:
    id: int
    charger_id: str
    connector_id: int
    id_tag: str
    authorized: bool
    meter_start_wh: int
    start_timestamp: str
    started_at: float
    meter_stop_wh: int | None
    stop_timestamp: str | None
    stopped_at: float | None
    stop_reason: str | None
    stop_id_tag: str | None

    @property
    def open(self) -> bool:
        return self.stopped_at is None

    def same_stop(self, stop: TransactionStop) -> bool:
        """True when ``stop`` repeats the stop already recorded (a retried message)."""
        return (self.meter_stop_wh, self.stop_timestamp) == (
            stop.meter_stop_wh,
            stop.stop_timestamp,
        )


_SELECT = "SELECT * FROM transactions"


class TransactionStore:
    """The only writer of ``transactions``; it keeps recent rows in memory, because every
    MeterValues message looks its transaction up."""

    def __init__(self, db: Database, meter_log: MeterLog, *, cached: int = 4096) -> None:
        self._db = db
        self._meter_log = meter_log
        self._cache: dict[int, TransactionRow] = {}
        self._cache_size = cached
        # Chargers known to have no open transaction: every (re)connect and boot asks, and
        # nearly always for nothing. Only start() opens one, and it drops the charger here.
        self._none_open: set[str] = set()
        self._starts = 0

    def _remember(self, row: TransactionRow) -> TransactionRow:
        self._cache.pop(row.id, None)
        self._cache[row.id] = row
        if len(self._cache) > self._cache_size:
            del self._cache[next(iter(self._cache))]  # the least recently stored
        return row

    async def start(
        self,
        new: NewTransaction,
        readings: Callable[[int], Sequence[MeterRecord]],
        also: Callable[[Transaction, int], Awaitable[None]] | None = None,
    ) -> tuple[TransactionRow, bool]:
        """Record a start; returns the row and False when this exact start was seen before.

        ``readings`` builds the meter log rows for the new transaction id; ``also`` writes
        rows of another table that belong with it, in the same SQLite transaction.
        """
        key = (new.charger_id, new.connector_id, new.id_tag, new.start_timestamp)
        self._starts += 1  # an open_of() reading meanwhile must not remember "none"
        self._none_open.discard(new.charger_id)
        async with self._db.transaction() as tx:
            found = await tx.fetchone(
                f"{_SELECT} WHERE charger_id = ? AND connector_id = ? AND id_tag = ?"
                " AND start_timestamp = ? AND meter_start_wh = ?",
                (*key, new.meter_start_wh),
            )
            if found is not None:
                return _row(found), False
            transaction_id = await tx.insert(
                "INSERT INTO transactions (charger_id, connector_id, id_tag, authorized,"
                " meter_start_wh, start_timestamp, started_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (*key[:3], int(new.authorized), new.meter_start_wh, *key[3:], new.started_at),
            )
            await self._meter_log.append_in(tx, readings(transaction_id))
            if also is not None:
                await also(tx, transaction_id)
            row = await tx.fetchone(f"{_SELECT} WHERE id = ?", (transaction_id,))
        assert row is not None
        return self._remember(_row(row)), True

    async def find_start(self, new: NewTransaction) -> TransactionRow | None:
        """The transaction this exact StartTransaction already opened, if any."""
        row = await self._db.fetchone(
            f"{_SELECT} WHERE charger_id = ? AND connector_id = ? AND id_tag = ?"
            " AND start_timestamp = ? AND meter_start_wh = ?",
            (new.charger_id, new.connector_id, new.id_tag, new.start_timestamp, new.meter_start_wh),
        )
        return None if row is None else _row(row)

    async def stop(
        self, transaction_id: int, stop: TransactionStop, readings: Sequence[MeterRecord]
    ) -> TransactionRow | None:
        """Record the stop of an open transaction with its readings; None if not open."""
        async with self._db.transaction() as tx:
            changed = await tx.execute(
                "UPDATE transactions SET meter_stop_wh = ?, stop_timestamp = ?, stopped_at = ?,"
                " stop_reason = ?, stop_id_tag = ? WHERE id = ? AND stopped_at IS NULL",
                (
                    stop.meter_stop_wh,
                    stop.stop_timestamp,
                    stop.stopped_at,
                    stop.reason,
                    stop.id_tag,
                    transaction_id,
                ),
            )
            if not changed:
                return None
            await self._meter_log.append_in(tx, readings)
            row = await tx.fetchone(f"{_SELECT} WHERE id = ?", (transaction_id,))
        return None if row is None else self._remember(_row(row))

    async def begin(
        self, transaction_id: int, *, id_tag: str, authorized: bool, meter_start_wh: int
    ) -> TransactionRow:
        """Fill in who started an open transaction and its first register.

        OCPP 2.0.1 may open a transaction before its idToken or first reading is known
        (cable plugged in first); 1.6 always sends them with StartTransaction.
        """
        async with self._db.transaction() as tx:
            await tx.execute(
                "UPDATE transactions SET id_tag = ?, authorized = ?, meter_start_wh = ?"
                " WHERE id = ?",
                (id_tag, int(authorized), meter_start_wh, transaction_id),
            )
            row = await tx.fetchone(f"{_SELECT} WHERE id = ?", (transaction_id,))
        assert row is not None
        return self._remember(_row(row))

    async def get(self, transaction_id: int) -> TransactionRow | None:
        cached = self._cache.get(transaction_id)
        if cached is not None:
            return cached
        row = await self._db.fetchone(f"{_SELECT} WHERE id = ?", (transaction_id,))
        return None if row is None else self._remember(_row(row))

    async def open_of(self, charger_id: str) -> list[TransactionRow]:
        if charger_id in self._none_open:
            return []
        asked_at = self._starts
        rows = await self._db.fetchall(
            f"{_SELECT} WHERE charger_id = ? AND stopped_at IS NULL ORDER BY id", (charger_id,)
        )
        if not rows and self._starts == asked_at:  # no start() began while we read
            self._none_open.add(charger_id)
        return [_row(r) for r in rows]

    async def latest_on(self, charger_id: str, connector_id: int) -> TransactionRow | None:
        """The newest transaction on a connector, open or not."""
        row = await self._db.fetchone(
            f"{_SELECT} WHERE charger_id = ? AND connector_id = ? ORDER BY id DESC LIMIT 1",
            (charger_id, connector_id),
        )
        return None if row is None else _row(row)

    async def open_with_tag(self, id_tag: str) -> TransactionRow | None:
        row = await self._db.fetchone(
            f"{_SELECT} WHERE id_tag = ? AND stopped_at IS NULL AND authorized = 1"
            " ORDER BY id DESC LIMIT 1",
            (id_tag,),
        )
        return None if row is None else _row(row)


def _row(row: Any) -> TransactionRow:
    return TransactionRow(
        id=row["id"],
        charger_id=row["charger_id"],
        connector_id=row["connector_id"],
        id_tag=row["id_tag"],
        authorized=bool(row["authorized"]),
        meter_start_wh=row["meter_start_wh"],
        start_timestamp=row["start_timestamp"],
        started_at=row["started_at"],
        meter_stop_wh=row["meter_stop_wh"],
        stop_timestamp=row["stop_timestamp"],
        stopped_at=row["stopped_at"],
        stop_reason=row["stop_reason"],
        stop_id_tag=row["stop_id_tag"],
    )
