"""OCPP 2.0.1 bookkeeping: the charger's transaction ids, TransactionEvent seqNos, remote starts.

Our ``transactions`` rows (written only by :class:`~bot.store.transactions.TransactionStore`)
stay the one record of a transaction; this store keeps what 2.0.1 adds beside them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bot.store.db import Database, Transaction

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


@dataclass(frozen=True)
class RemoteStart:
    remote_start_id: int
    charger_id: str
    id_token: str
    evse_id: int


class Ocpp201Store:
    def __init__(self, db: Database) -> None:
        self._db = db

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
        also: Callable[[Transaction], Awaitable[None]],
    ) -> tuple[SeqOutcome, TxLink]:
        """Record one event by seqNo and the register it carried; ``also`` writes what comes
        with a new event (its meter log rows) in the same SQLite transaction. A repeated
        seqNo changes nothing."""
        async with self._db.transaction() as tx:
            top = await tx.fetchone(
                "SELECT MAX(seq_no) AS top FROM ocpp201_events WHERE transaction_id = ?",
                (transaction_id,),
            )
            highest = None if top is None or top["top"] is None else int(top["top"])
            added = await tx.execute(
                "INSERT INTO ocpp201_events (transaction_id, seq_no, event_type, trigger_reason,"
                " offline, timestamp, received_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (transaction_id, seq_no) DO NOTHING",
                (
                    transaction_id,
                    event.seq_no,
                    event.event_type,
                    event.trigger_reason,
                    int(event.offline),
                    event.timestamp,
                    event.received_at,
                ),
            )
            if added:
                await also(tx)
            if added and energy_wh is not None:
                # The latest register is the one of the newest event, not of a late replay.
                newest = highest is None or event.seq_no > highest
                await tx.execute(
                    "UPDATE ocpp201_transactions SET"
                    " first_energy_wh = COALESCE(first_energy_wh, ?),"
                    " last_energy_wh = CASE WHEN ? OR last_energy_wh IS NULL THEN ?"
                    " ELSE last_energy_wh END WHERE transaction_id = ?",
                    (energy_wh, int(newest), energy_wh, transaction_id),
                )
            row = await tx.fetchone(
                "SELECT * FROM ocpp201_transactions WHERE transaction_id = ?", (transaction_id,)
            )
        assert row is not None
        missing: tuple[int, ...] = ()
        if added and highest is not None and event.seq_no > highest + 1:
            missing = tuple(range(highest + 1, event.seq_no))[:100]
        outcome = SeqOutcome(event.seq_no, bool(added), highest, missing)
        return outcome, _link(row)

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
