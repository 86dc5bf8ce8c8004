"""The publish outbox: every event the bot must get onto relays, stored before it is sent.

A row is ``pending`` until one relay answers OK (``delivered``), a newer event for the same
replaceable address replaces it (``superseded``), its NIP-40 expiration passes (``expired``),
or every relay refused it for good (``failed``). Sending is claimed with a lease on
``next_attempt_at``, so a crash mid-send only delays the row until the lease runs out.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from bot.store.db import Database, Row

__all__ = [
    "Attempt",
    "NewOutboxEvent",
    "OutboxRow",
    "OutboxStore",
    "Outcome",
    "RelayResult",
]

Outcome = Literal["delivered", "retry", "expired", "failed"]


@dataclass(frozen=True, slots=True)
class NewOutboxEvent:
    event_id: str
    kind: int
    pubkey: str
    event_json: str
    relays: tuple[str, ...]
    address: str | None
    expires_at: float | None
    lane: int = 0  # rows due together are claimed lowest lane first (bot.nostr.outbox)


@dataclass(frozen=True, slots=True)
class OutboxRow:
    id: int
    event_id: str
    kind: int
    address: str | None
    event_json: str
    relays: tuple[str, ...]
    attempts: int
    expires_at: float | None
    state: str
    created_at: float
    lane: int = 0


@dataclass(frozen=True)
class RelayResult:
    relay_url: str
    ok: bool
    message: str


@dataclass(frozen=True)
class Attempt:
    """The end of one send attempt, written by :meth:`OutboxStore.record`."""

    outbox_id: int
    outcome: Outcome
    results: tuple[RelayResult, ...]
    at: float
    next_attempt_at: float  # only used when ``outcome`` is ``retry``
    error: str = ""


_INSERT_CHUNK = 200  # 10 values a row, well below SQLite's limit of bound variables
_INSERT_HEAD = (
    "INSERT INTO outbox (event_id, kind, pubkey, event_json, relays, next_attempt_at,"
    " created_at, address, expires_at, lane) VALUES "
)
_INSERT_TAIL = " ON CONFLICT(event_id) DO NOTHING RETURNING id, event_id"
_COLUMNS = (
    "id, event_id, kind, address, event_json, relays, attempts, expires_at, state, created_at, lane"
)
# One lane at a time: with the lane fixed, the index outbox_due_by_lane hands the rows over
# already in order. Ordering by lane across all lanes in one query made SQLite read the
# (state, next_attempt_at) index and sort every due row at every claim, which in a reconnect
# storm held the one database connection for most of the time.
_SELECT_DUE = (
    f"SELECT {_COLUMNS} FROM outbox WHERE state = 'pending' AND lane = ? AND next_attempt_at <= ?"  # noqa: S608 -- constants
    " ORDER BY next_attempt_at, id LIMIT ?"
)
_SELECT_ONE = f"SELECT {_COLUMNS} FROM outbox WHERE id = ?"  # noqa: S608 -- constants


def _row(row: Row) -> OutboxRow:
    return OutboxRow(
        id=row["id"],
        event_id=row["event_id"],
        kind=row["kind"],
        address=row["address"],
        event_json=row["event_json"],
        relays=tuple(json.loads(row["relays"])),
        attempts=row["attempts"],
        expires_at=row["expires_at"],
        state=row["state"],
        created_at=row["created_at"],
        lane=row["lane"],
    )


class OutboxStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(
        self,
        events: Sequence[NewOutboxEvent],
        now: float,
        lease_s: float = 0.0,
        *,
        leased: Sequence[bool] | None = None,
    ) -> list[tuple[int, bool]]:
        """Store events; return (row id, newly stored) for each. A known event keeps its row.

        ``lease_s`` > 0 stores the rows already claimed by the caller for that long: all
        of them, or those that ``leased`` marks (the others are due now, for a claim).
        """
        taken = [True] * len(events) if leased is None else list(leased)
        if len(taken) != len(events):
            raise ValueError("leased must mark every event")
        found: dict[str, tuple[int, bool]] = {}
        async with self._db.transaction() as tx:
            for first in range(0, len(events), _INSERT_CHUNK):
                chunk = events[first : first + _INSERT_CHUNK]
                dues = [now + lease_s if t else now for t in taken[first : first + _INSERT_CHUNK]]
                rows = await tx.fetchall(
                    _INSERT_HEAD
                    + ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"] * len(chunk))
                    + _INSERT_TAIL,
                    [
                        v
                        for e, due in zip(chunk, dues, strict=True)
                        for v in _insert_values(e, due, now)
                    ],
                )
                found.update((r["event_id"], (int(r["id"]), True)) for r in rows)
            for event in events:
                if event.event_id not in found:  # stored before: keep its row
                    row = await tx.fetchone(
                        "SELECT id FROM outbox WHERE event_id = ?", (event.event_id,)
                    )
                    assert row is not None  # the insert found it, in this transaction
                    found[event.event_id] = (int(row["id"]), False)
            newest: dict[str, int] = {}
            for event in events:
                if event.address is not None:
                    newest[event.address] = max(
                        newest.get(event.address, 0), found[event.event_id][0]
                    )
            for address, outbox_id in newest.items():
                # An older version of a replaceable event is not worth sending any more.
                await tx.execute(
                    "UPDATE outbox SET state = 'superseded'"
                    " WHERE address = ? AND state = 'pending' AND id < ?",
                    (address, outbox_id),
                )
        return [found[e.event_id] for e in events]

    async def claim_due(
        self, now: float, limit: int, lease_s: float, lanes: Sequence[int]
    ) -> list[OutboxRow]:
        """Pending rows due by ``now``, lane by lane in the order of ``lanes``, oldest first
        within a lane; their next attempt moves ``lease_s`` on."""
        if limit <= 0:
            return []
        async with self._db.transaction() as tx:
            rows: list[Row] = []
            for lane in lanes:
                if len(rows) >= limit:
                    break
                rows += await tx.fetchall(_SELECT_DUE, (lane, now, limit - len(rows)))
            if rows:
                marks = ",".join("?" * len(rows))
                await tx.execute(
                    f"UPDATE outbox SET next_attempt_at = ? WHERE id IN ({marks})",  # noqa: S608 -- only '?' marks
                    (now + lease_s, *(r["id"] for r in rows)),
                )
        return [_row(r) for r in rows]

    async def record(self, attempts: Sequence[Attempt]) -> None:
        """Write the outcome of finished attempts, all in one transaction."""
        if not attempts:
            return
        results = [
            (attempt.outbox_id, r.relay_url, int(r.ok), r.message, attempt.at)
            for attempt in attempts
            for r in attempt.results
        ]
        retries = [_outcome_update(a)[1] for a in attempts if a.outcome == "retry"]
        finals = [_outcome_update(a)[1] for a in attempts if a.outcome != "retry"]
        async with self._db.transaction() as tx:
            # A relay that once said OK keeps its OK: later failures do not undo it.
            await tx.executemany(
                "INSERT INTO outbox_results (outbox_id, relay_url, ok, message, at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT(outbox_id, relay_url) DO UPDATE"
                " SET ok = excluded.ok, message = excluded.message, at = excluded.at"
                " WHERE outbox_results.ok = 0",
                results,
            )
            await tx.executemany(_RETRY_UPDATE, retries)
            await tx.executemany(_FINAL_UPDATE, finals)

    async def pending_addresses(self, kinds: Sequence[int]) -> set[str]:
        marks = ",".join("?" * len(kinds))
        rows = await self._db.fetchall(
            f"SELECT DISTINCT address FROM outbox WHERE state = 'pending' AND kind IN ({marks})"  # noqa: S608 -- only '?' marks
            " AND address IS NOT NULL",
            tuple(kinds),
        )
        return {r["address"] for r in rows}

    async def next_due_at(self) -> float | None:
        row = await self._db.fetchone(
            "SELECT MIN(next_attempt_at) AS due FROM outbox WHERE state = 'pending'"
        )
        return None if row is None or row["due"] is None else float(row["due"])

    async def retry_now(self, now: float) -> int:
        """Make every pending row that already failed once due now (a relay came back)."""
        return await self._db.execute(
            "UPDATE outbox SET next_attempt_at = ?"
            " WHERE state = 'pending' AND attempts > 0 AND next_attempt_at > ?",
            (now, now),
        )

    async def get(self, outbox_id: int) -> OutboxRow | None:
        row = await self._db.fetchone(_SELECT_ONE, (outbox_id,))
        return None if row is None else _row(row)

    async def results(self, outbox_id: int) -> list[RelayResult]:
        rows = await self._db.fetchall(
            "SELECT relay_url, ok, message FROM outbox_results WHERE outbox_id = ?"
            " ORDER BY relay_url",
            (outbox_id,),
        )
        return [RelayResult(r["relay_url"], bool(r["ok"]), r["message"]) for r in rows]

    async def ok_relays(self, outbox_id: int) -> set[str]:
        rows = await self._db.fetchall(
            "SELECT relay_url FROM outbox_results WHERE outbox_id = ? AND ok = 1", (outbox_id,)
        )
        return {r["relay_url"] for r in rows}

    async def counts(self) -> dict[str, int]:
        rows = await self._db.fetchall("SELECT state, COUNT(*) AS n FROM outbox GROUP BY state")
        return {r["state"]: int(r["n"]) for r in rows}

    async def prune(self, before: float) -> int:
        """Forget finished rows created before ``before``; pending rows are never pruned."""
        async with self._db.transaction() as tx:
            await tx.execute(
                "DELETE FROM outbox_results WHERE outbox_id IN"
                " (SELECT id FROM outbox WHERE state != 'pending' AND created_at < ?)",
                (before,),
            )
            return await tx.execute(
                "DELETE FROM outbox WHERE state != 'pending' AND created_at < ?", (before,)
            )


def _insert_values(event: NewOutboxEvent, due: float, now: float) -> tuple[object, ...]:
    relays = json.dumps(list(event.relays))
    return (
        event.event_id,
        event.kind,
        event.pubkey,
        event.event_json,
        relays,
        due,
        now,
        event.address,
        event.expires_at,
        event.lane,
    )


_RETRY_UPDATE = (
    "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? WHERE id = ?"
)
_FINAL_UPDATE = (
    "UPDATE outbox SET attempts = attempts + 1, state = ?, delivered_at = ?, last_error = ?"
    " WHERE id = ?"
)


def _outcome_update(attempt: Attempt) -> tuple[str, tuple[object, ...]]:
    if attempt.outcome == "retry":
        return _RETRY_UPDATE, (attempt.next_attempt_at, attempt.error, attempt.outbox_id)
    delivered_at = attempt.at if attempt.outcome == "delivered" else None
    return _FINAL_UPDATE, (attempt.outcome, delivered_at, attempt.error, attempt.outbox_id)
