"""The append-only, hash-chained meter log: every reading a charger sent, tamper-evident.

Chains. Every row of ``meter_log`` belongs to exactly one chain, named in its ``chain``
column (see :func:`chain_for`):

* ``tx:<transaction_id>``: the readings of one OCPP transaction. Transaction ids are ours
  and never reused, so one transaction is one chain: its StartTransaction reading, every
  MeterValues sample, the StopTransaction reading and its transaction data, late ones too.
* ``cp:<charger_id>:<connector_id>``: readings that belong to no transaction we know.

Links. The rows of a chain, in ``id`` order, form a list. Row *k* stores ``prev_hash``, the
``hash`` of row *k-1* (:data:`GENESIS`, 64 zeros, for the first row), and its own ``hash``:
the lowercase hex SHA-256 of the UTF-8 bytes of::

    json.dumps([VERSION, chain, prev_hash, charger_id, connector_id, transaction_id,
                sampled_at, received_at, context, energy_wh, power_w, soc_percent, raw],
               separators=(",", ":"), ensure_ascii=False, allow_nan=False)

with ``connector_id`` and ``transaction_id`` as integers (or null), ``received_at``,
``energy_wh``, ``power_w`` and ``soc_percent`` as floats (or null), the rest as strings
(``context`` may be null). ``raw`` is the charger's JSON for the reading, signed meter data
included. ``session_id`` is outside the hash: the session layer may fill it in afterwards.

Heads. ``meter_chain_heads`` holds each chain's length and last hash, written in the same
SQLite transaction as its rows. :func:`verify_chain` recomputes every hash and link and
compares the end with the head, so an edited, deleted, inserted, reordered or cut-off row
is reported. Publishing a head (e.g. in the driver's receipt) anchors it outside the
database, against someone who rewrites the whole chain.

Writes from many chargers at once are group-committed: :meth:`MeterLog.append` queues its
rows and one caller writes every queued row in one SQLite transaction.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.errors import StoreError
from bot.store.db import Database, Transaction

__all__ = [
    "GENESIS",
    "VERSION",
    "ChainVerdict",
    "MeterLog",
    "MeterRecord",
    "chain_for",
    "record_hash",
    "transaction_chain",
    "verify_chain",
]

VERSION = "zapcharge-meter-v1"
GENESIS = "0" * 64
_CONTENT = (
    "chain, charger_id, connector_id, transaction_id, sampled_at, received_at, context,"
    " energy_wh, power_w, soc_percent, raw"
)
_COLUMNS = _CONTENT + ", prev_hash, hash"
_ROWS_PER_INSERT = 200  # 13 parameters each: far below SQLite's variable limit


def chain_for(charger_id: str, connector_id: int, transaction_id: int | None) -> str:
    """The chain of a reading: its transaction's, or its connector's outside transactions."""
    if transaction_id is not None:
        return transaction_chain(transaction_id)
    return f"cp:{charger_id}:{connector_id}"


def transaction_chain(transaction_id: int) -> str:
    """The chain of one transaction: what ``zapcharge audit`` verifies for a session."""
    return f"tx:{transaction_id}"


@dataclass(frozen=True)
class MeterRecord:
    """One reading to append (or read back): the hashed content of a ``meter_log`` row."""

    chain: str
    charger_id: str
    connector_id: int
    transaction_id: int | None
    sampled_at: str
    received_at: float
    context: str | None
    energy_wh: float | None
    power_w: float | None
    soc_percent: float | None
    raw: str

    def hashed_fields(self) -> list[Any]:
        # Floats stay floats: SQLite REAL columns give back 1234.0 for an inserted 1234.
        return [
            self.chain,
            self.charger_id,
            self.connector_id,
            self.transaction_id,
            self.sampled_at,
            float(self.received_at),
            self.context,
            _float_or_none(self.energy_wh),
            _float_or_none(self.power_w),
            _float_or_none(self.soc_percent),
            self.raw,
        ]


def _float_or_none(value: float | None) -> float | None:
    return None if value is None else float(value)


def record_hash(record: MeterRecord, prev_hash: str) -> str:
    fields = record.hashed_fields()
    content = [VERSION, fields[0], prev_hash, *fields[1:]]
    text = json.dumps(content, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class ChainVerdict:
    chain: str
    length: int
    head: str
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


class MeterLog:
    """Appends to the meter log; the only writer of ``meter_log`` and ``meter_chain_heads``."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._queue: list[tuple[Sequence[MeterRecord], asyncio.Future[None]]] = []
        self._writing = False

    async def append(self, records: Sequence[MeterRecord]) -> None:
        """Append ``records`` durably, batched with whatever other callers are appending."""
        if not records:
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((records, done))
        if not self._writing:
            await self._write_queue()
        await done

    async def _write_queue(self) -> None:
        # The first caller writes for everyone queued meanwhile (group commit): one fsync
        # for many chargers instead of one each.
        self._writing = True
        try:
            while self._queue:
                batch, self._queue = self._queue, []
                try:
                    async with self._db.transaction() as tx:
                        await self.append_in(tx, [r for records, _ in batch for r in records])
                except BaseException as exc:
                    _fail(batch, exc)
                    raise
                for _, done in batch:
                    if not done.done():
                        done.set_result(None)
        finally:
            self._writing = False
            leftover, self._queue = self._queue, []
            _fail(leftover, StoreError("meter log writer stopped"))

    async def append_in(self, tx: Transaction, records: Sequence[MeterRecord]) -> None:
        """Append inside the caller's transaction (so rows commit with, e.g., a stop)."""
        if not records:
            return
        chains = sorted({r.chain for r in records})
        marks = ",".join("?" * len(chains))
        rows = await tx.fetchall(
            f"SELECT chain, length, head FROM meter_chain_heads WHERE chain IN ({marks})",  # noqa: S608 -- only placeholders are interpolated
            chains,
        )
        heads = {r["chain"]: (int(r["length"]), str(r["head"])) for r in rows}
        values: list[Any] = []
        for record in records:
            length, prev = heads.get(record.chain, (0, GENESIS))
            digest = record_hash(record, prev)
            values.append([*record.hashed_fields(), prev, digest])
            heads[record.chain] = (length + 1, digest)
        for start in range(0, len(values), _ROWS_PER_INSERT):
            chunk = values[start : start + _ROWS_PER_INSERT]
            await tx.execute(
                f"INSERT INTO meter_log ({_COLUMNS}) VALUES {_marks(len(chunk), 13)}",  # noqa: S608 -- placeholders only
                [v for row in chunk for v in row],
            )
        touched = [(c, *heads[c]) for c in chains]
        await tx.execute(
            f"INSERT INTO meter_chain_heads (chain, length, head) VALUES {_marks(len(touched), 3)}"  # noqa: S608 -- placeholders only
            " ON CONFLICT(chain) DO UPDATE SET length = excluded.length, head = excluded.head",
            [v for row in touched for v in row],
        )

    async def records(self, chain: str) -> list[MeterRecord]:
        return [_record(r) for r in await self._db.fetchall(_SELECT_CHAIN, (chain,))]

    async def link_session(self, transaction_id: int, session_id: str) -> int:
        """Note the session of a transaction's rows (outside the hash); returns rows touched."""
        return await self._db.execute(
            "UPDATE meter_log SET session_id = ? WHERE chain = ?",
            (session_id, transaction_chain(transaction_id)),
        )


_SELECT_CHAIN = f"SELECT {_COLUMNS} FROM meter_log WHERE chain = ? ORDER BY id"  # noqa: S608 -- constant


def _marks(rows: int, width: int) -> str:
    """``(?,?),(?,?)``: placeholders for a multi-row VALUES clause."""
    return ",".join(["(" + ",".join("?" * width) + ")"] * rows)


def _record(row: Any) -> MeterRecord:
    return MeterRecord(
        chain=row["chain"],
        charger_id=row["charger_id"],
        connector_id=row["connector_id"],
        transaction_id=row["transaction_id"],
        sampled_at=row["sampled_at"],
        received_at=row["received_at"],
        context=row["context"],
        energy_wh=row["energy_wh"],
        power_w=row["power_w"],
        soc_percent=row["soc_percent"],
        raw=row["raw"],
    )


def _fail(batch: Sequence[tuple[object, asyncio.Future[None]]], exc: BaseException) -> None:
    error = exc if isinstance(exc, Exception) else StoreError("meter log write interrupted")
    for _, done in batch:
        if not done.done():
            done.set_exception(error)
            done.exception()  # retrieved here: a follower that was cancelled never reads it


async def verify_chain(db: Database, chain: str) -> ChainVerdict:
    """Recompute every hash and link of ``chain`` and compare its end with the stored head."""
    rows = await db.fetchall(
        f"SELECT id, {_COLUMNS} FROM meter_log WHERE chain = ? ORDER BY id",  # noqa: S608 -- constant
        (chain,),
    )
    problems: list[str] = []
    prev = GENESIS
    for row in rows:
        if row["prev_hash"] != prev:
            problems.append(f"row {row['id']}: does not follow the row before it")
        if record_hash(_record(row), row["prev_hash"]) != row["hash"]:
            problems.append(f"row {row['id']}: content does not match its hash")
        prev = row["hash"]
    head = await db.fetchone("SELECT length, head FROM meter_chain_heads WHERE chain = ?", (chain,))
    if head is None:
        if rows:
            problems.append("the chain has rows but no recorded head")
    else:
        if int(head["length"]) != len(rows):
            problems.append(f"the head records {head['length']} rows, found {len(rows)}")
        if head["head"] != prev:
            problems.append("the last row is not the recorded head")
    return ChainVerdict(chain, len(rows), prev, tuple(problems))
