"""OCPP 2.0.1 bookkeeping: the charger's transaction ids, TransactionEvent seqNos, remote starts.

Our ``transactions`` rows (written only by :class:`~bot.store.transactions.TransactionStore`)
stay the one record of a transaction; this store keeps what 2.0.1 adds beside them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.errors import StoreError
from bot.store.db import Database, Transaction
from bot.store.meter_log import MeterLog, MeterRecord

__all__ = ["EventRecord", "Ocpp201Store", "RemoteStart", "SeqOutcome", "TxLink"]


@dataclass(frozen=True)
class TxLink:
    """Our transaction ``transaction_id`` is the charger's ``charger_tx_id`` on an EVSE."""

    transaction_id: int
    charger_id: str
    charger_tx_id: str
    evse_id: int
    connector_id: int
    remote_start_id: int | None
    first_energy_wh: float | None
    last_energy_wh: float | None


@dataclass(frozen=True)
class EventRecord:
    seq_no: int
    event_type: str
    trigger_reason: str
    offline: bool
    timestamp: str
    received_at: float


@dataclass(frozen=True)
class SeqOutcome:
    """What one TransactionEvent's seqNo says: new or repeated, and what it skipped."""

    seq_no: int
    new: bool
    highest_before: int | None  # the highest seqNo taken before this one
    missing: tuple[int, ...]  # seqNos this one jumped over (a gap, at most 100 listed)

    @property
    def late(self) -> bool:
        """Older than one already taken: a replayed event that fills a gap."""
        return self.new and self.highest_before is not None and self.seq_no < self.highest_before


_Taken = tuple[int, EventRecord, float | None, Sequence[MeterRecord]]
_INSERT_EVENTS = (
    "INSERT INTO ocpp201_events (transaction_id, seq_no, event_type, trigger_reason,"
    " offline, timestamp, received_at) VALUES"
)
_UPDATE_ENERGY = (
    "UPDATE ocpp201_transactions SET first_energy_wh = COALESCE(first_energy_wh, v.column2),"
    " last_energy_wh = CASE WHEN v.column4 OR last_energy_wh IS NULL THEN v.column3"
    " ELSE last_energy_wh END"
)
_MAX_BATCH = 500
_CACHED_LINKS = 4096  # 7 parameters an event: far below SQLite's variable limit


def _marks(rows: int, width: int) -> str:
    row = "(" + ",".join("?" * width) + ")"
    return ",".join([row] * rows)


def _event_values(event: EventRecord) -> tuple[Any, ...]:
    return (
        event.seq_no,
        event.event_type,
        event.trigger_reason,
        int(event.offline),
        event.timestamp,
        event.received_at,
    )


@dataclass(frozen=True)
class RemoteStart:
    remote_start_id: int
    charger_id: str
    id_token: str
    evse_id: int


class Ocpp201Store:
    def __init__(self, db: Database, meter_log: MeterLog) -> None:
        self._db = db
        self._meter_log = meter_log
        self._queue: list[tuple[_Taken, asyncio.Future[tuple[SeqOutcome, TxLink]]]] = []
        self._writing = False
        # Every TransactionEvent looks its link up: the recent ones are kept here.
        self._links: dict[tuple[str, str], TxLink] = {}

    def _remember(self, link: TxLink) -> TxLink:
        key = (link.charger_id, link.charger_tx_id)
        self._links.pop(key, None)
        self._links[key] = link
        if len(self._links) > _CACHED_LINKS:
            del self._links[next(iter(self._links))]  # the least recently stored
        return link

    async def link_in(self, tx: Transaction, link: TxLink) -> None:
        await tx.execute(
            "INSERT INTO ocpp201_transactions (transaction_id, charger_id, charger_tx_id, evse_id,"
            " connector_id, remote_start_id, first_energy_wh, last_energy_wh)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                link.transaction_id,
                link.charger_id,
                link.charger_tx_id,
                link.evse_id,
                link.connector_id,
                link.remote_start_id,
                link.first_energy_wh,
                link.last_energy_wh,
            ),
        )

    async def link_of(self, charger_id: str, charger_tx_id: str) -> TxLink | None:
        cached = self._links.get((charger_id, charger_tx_id))
        if cached is not None:
            return cached
        row = await self._db.fetchone(
            "SELECT * FROM ocpp201_transactions WHERE charger_id = ? AND charger_tx_id = ?",
            (charger_id, charger_tx_id),
        )
        return None if row is None else _link(row)

    async def link_by_id(self, transaction_id: int) -> TxLink | None:
        row = await self._db.fetchone(
            "SELECT * FROM ocpp201_transactions WHERE transaction_id = ?", (transaction_id,)
        )
        return None if row is None else _link(row)

    async def take_event(
        self,
        transaction_id: int,
        event: EventRecord,
        energy_wh: float | None,
        records: Sequence[MeterRecord],
    ) -> tuple[SeqOutcome, TxLink]:
        """Record one event by seqNo, the register it carried and, if it is new, its meter
        log ``records``, in one SQLite transaction; a repeated seqNo changes nothing.

        Events of many stations are group-committed, as the meter log's own appends: the
        first caller writes everything queued meanwhile, one fsync for all of them.
        """
        done: asyncio.Future[tuple[SeqOutcome, TxLink]] = asyncio.get_running_loop().create_future()
        self._queue.append(((transaction_id, event, energy_wh, records), done))
        if not self._writing:
            await self._write_queue()
        return await done

    async def _write_queue(self) -> None:
        self._writing = True
        try:
            while self._queue:
                batch = self._queue[:_MAX_BATCH]
                self._queue = self._queue[_MAX_BATCH:]
                try:
                    async with self._db.transaction() as tx:
                        results = await self._take_in(tx, [item for item, _ in batch])
                except BaseException as exc:
                    for _, done in batch:
                        if not done.done():
                            done.set_exception(exc)
                    if not isinstance(exc, Exception):
                        raise
                    continue
                for (_, done), result in zip(batch, results, strict=True):
                    if not done.done():
                        done.set_result(result)
        finally:
            self._writing = False
            leftover, self._queue = self._queue, []
            for _, done in leftover:
                if not done.done():
                    done.set_exception(StoreError("TransactionEvent writer stopped"))

    async def _take_in(
        self, tx: Transaction, batch: Sequence[_Taken]
    ) -> list[tuple[SeqOutcome, TxLink]]:
        """A handful of statements for the whole batch, not a handful per event."""
        ids = sorted({transaction_id for transaction_id, *_ in batch})
        marks = ",".join("?" * len(ids))
        where = f"WHERE transaction_id IN ({marks})"
        tops = await tx.fetchall(
            f"SELECT transaction_id, MAX(seq_no) AS top FROM ocpp201_events {where}"  # noqa: S608 -- placeholders only
            " GROUP BY transaction_id",
            ids,
        )
        highest: dict[int, int | None] = {r["transaction_id"]: r["top"] for r in tops}
        inserted = await tx.fetchall(
            f"{_INSERT_EVENTS} {_marks(len(batch), 7)}"
            " ON CONFLICT (transaction_id, seq_no) DO NOTHING RETURNING transaction_id, seq_no",
            [v for t, e, _, _ in batch for v in (t, *_event_values(e))],
        )
        fresh = {(r["transaction_id"], r["seq_no"]) for r in inserted}
        outcomes: list[SeqOutcome] = []
        records: list[MeterRecord] = []
        energies: dict[int, tuple[float | None, float | None, bool]] = {}
        for transaction_id, event, energy_wh, event_records in batch:
            before = highest.get(transaction_id)
            added = (transaction_id, event.seq_no) in fresh
            fresh.discard((transaction_id, event.seq_no))  # the same event twice: once
            missing: tuple[int, ...] = ()
            if added and before is not None and event.seq_no > before + 1:
                missing = tuple(range(before + 1, event.seq_no))[:100]
            outcomes.append(SeqOutcome(event.seq_no, added, before, missing))
            if not added:
                continue
            records.extend(event_records)
            newest = before is None or event.seq_no > before
            if newest:
                highest[transaction_id] = event.seq_no
            if energy_wh is not None:
                first, last, was_newest = energies.get(transaction_id, (None, None, False))
                take = newest or last is None
                energies[transaction_id] = (
                    first if first is not None else energy_wh,
                    energy_wh if take else last,
                    was_newest or newest,
                )
        await self._meter_log.append_in(tx, records)
        if energies:
            # The latest register is the one of the newest event, not of a late replay.
            await tx.execute(
                f"{_UPDATE_ENERGY} FROM (VALUES {_marks(len(energies), 4)}) AS v"
                " WHERE transaction_id = v.column1",
                [v for t, (f, last, n) in energies.items() for v in (t, f, last, int(n))],
            )
        rows = await tx.fetchall(f"SELECT * FROM ocpp201_transactions {where}", ids)  # noqa: S608 -- placeholders only
        links = {r["transaction_id"]: _link(r) for r in rows}
        for link in links.values():
            self._remember(link)
        return [(o, links[t]) for o, (t, *_) in zip(outcomes, batch, strict=True)]

    async def remote_start_sent(
        self, charger_id: str, id_token: str, evse_id: int, at: float
    ) -> int:
        """Note a RequestStartTransaction about to go out; returns its remoteStartId."""
        return await self._db.insert(
            "INSERT INTO ocpp201_remote_starts (charger_id, id_token, evse_id, sent_at)"
            " VALUES (?, ?, ?, ?)",
            (charger_id, id_token, evse_id, at),
        )

    async def remote_start(self, charger_id: str, remote_start_id: int) -> RemoteStart | None:
        row = await self._db.fetchone(
            "SELECT * FROM ocpp201_remote_starts WHERE remote_start_id = ? AND charger_id = ?",
            (remote_start_id, charger_id),
        )
        return None if row is None else _remote_start(row)

    async def remote_start_of(self, charger_id: str, id_token: str) -> RemoteStart | None:
        """The newest remote start with this idToken (Authorize names no EVSE)."""
        row = await self._db.fetchone(
            "SELECT * FROM ocpp201_remote_starts WHERE charger_id = ? AND id_token = ?"
            " ORDER BY remote_start_id DESC LIMIT 1",
            (charger_id, id_token),
        )
        return None if row is None else _remote_start(row)


def _link(row: Any) -> TxLink:
    return TxLink(
        transaction_id=row["transaction_id"],
        charger_id=row["charger_id"],
        charger_tx_id=row["charger_tx_id"],
        evse_id=row["evse_id"],
        connector_id=row["connector_id"],
        remote_start_id=row["remote_start_id"],
        first_energy_wh=row["first_energy_wh"],
        last_energy_wh=row["last_energy_wh"],
    )


def _remote_start(row: Any) -> RemoteStart:
    return RemoteStart(row["remote_start_id"], row["charger_id"], row["id_token"], row["evse_id"])
