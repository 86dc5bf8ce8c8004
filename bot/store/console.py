"""What the operator's console reads and writes: filtered sessions, money, the outbox queue,
and the log of operator actions (``console_actions``).

Only rows come out of here (sessions as rows: ``bot.sessions.records.Session.from_row``
reads them); what they mean for a person is the console's business. Refund rows leave out
``k1`` and ``bolt11``; the console never prints a session's page token.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.store.chargers import ChargerRow, ConnectorState, charger_row
from bot.store.db import Database, Row

__all__ = [
    "ConsoleAction",
    "ConsoleStore",
    "MoneyRow",
    "NoticeRow",
    "QueuedEvent",
    "RefundView",
    "SessionFilter",
]


@dataclass(frozen=True)
class SessionFilter:
    charger_id: str | None = None
    state: str | None = None  # a session state's value (the store holds no rules)
    since: float | None = None  # created at or after (unix seconds)
    until: float | None = None  # created before
    limit: int = 200


@dataclass(frozen=True)
class RefundView:
    """A refund row without its secrets (k1, the invoice)."""

    session_id: str
    amount_msat: int
    method: str
    status: str
    payment_hash: str | None
    error: str | None
    attempts: int
    updated_at: float


@dataclass(frozen=True)
class NoticeRow:
    notice: str
    at: float


@dataclass(frozen=True)
class MoneyRow:
    """One day (UTC, ``YYYY-MM-DD``) of one charger, in msat."""

    day: str
    charger_id: str
    sessions: int
    paid_msat: int  # everything drivers paid for sessions created that day
    kept_msat: int  # what settled sessions kept: paid minus the refund owed back
    refunded_msat: int  # refunds actually paid out
    owed_msat: int  # refunds owed and not yet paid
    in_flight_msat: int  # paid into sessions not settled yet


@dataclass(frozen=True)
class QueuedEvent:
    """An outbox row still waiting, with the relays that have not taken it yet."""

    id: int
    event_id: str
    kind: int
    pubkey: str
    relays: tuple[str, ...]
    waiting_for: tuple[str, ...]
    attempts: int
    next_attempt_at: float
    last_error: str
    created_at: float


@dataclass(frozen=True)
class ConsoleAction:
    id: int
    at: float
    operator: str
    action: str
    target: str
    params: dict[str, Any]
    outcome: str
    detail: str


class ConsoleStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def sessions(self, query: SessionFilter) -> list[Row]:
        """Newest first."""
        where, params = ["1 = 1"], list[Any]()
        if query.charger_id is not None:
            where.append("charger_id = ?")
            params.append(query.charger_id)
        if query.state is not None:
            where.append("state = ?")
            params.append(query.state)
        if query.since is not None:
            where.append("created_at >= ?")
            params.append(query.since)
        if query.until is not None:
            where.append("created_at < ?")
            params.append(query.until)
        rows = await self._db.fetchall(
            f"SELECT * FROM sessions WHERE {' AND '.join(where)}"  # noqa: S608 -- fixed clauses, values bound
            " ORDER BY created_at DESC, id LIMIT ?",
            [*params, query.limit],
        )
        return rows

    async def charger_rows(self) -> dict[str, ChargerRow]:
        """Every charger's link and boot data in one query (the fleet page, the live stream)."""
        rows = await self._db.fetchall("SELECT * FROM chargers")
        return {row["id"]: charger_row(row) for row in rows}

    async def connector_rows(self) -> dict[str, dict[int, ConnectorState]]:
        found: dict[str, dict[int, ConnectorState]] = {}
        for row in await self._db.fetchall("SELECT * FROM connector_status"):
            found.setdefault(row["charger_id"], {})[row["connector_id"]] = ConnectorState(
                row["connector_id"],
                row["status"],
                row["error_code"],
                row["info"],
                row["reported_at"],
                row["updated_at"],
            )
        return found

    async def session(self, session_id: str) -> Row | None:
        return await self._db.fetchone("SELECT * FROM sessions WHERE id = ?", (session_id,))

    async def refunds(self, session_ids: Sequence[str]) -> dict[str, RefundView]:
        if not session_ids:
            return {}
        columns = (
            "session_id, amount_msat, method, status, payment_hash, error, attempts, updated_at"
        )
        where = f"session_id IN ({_marks(session_ids)})"
        rows = await self._db.fetchall(
            f"SELECT {columns} FROM refunds WHERE {where}",  # noqa: S608 -- only placeholders are interpolated
            list(session_ids),
        )
        return {row["session_id"]: RefundView(**dict(row)) for row in rows}

    async def notices(self, session_ids: Sequence[str]) -> dict[str, list[NoticeRow]]:
        """The DMs sent to each session's driver (claimed notices), oldest first."""
        found: dict[str, list[NoticeRow]] = {sid: [] for sid in session_ids}
        if not session_ids:
            return found
        where = f"session_id IN ({_marks(session_ids)})"
        rows = await self._db.fetchall(
            f"SELECT session_id, notice, at FROM session_notices WHERE {where} ORDER BY at",  # noqa: S608 -- only placeholders are interpolated
            list(session_ids),
        )
        for row in rows:
            found[row["session_id"]].append(NoticeRow(row["notice"], row["at"]))
        return found

    async def money(self, since: float | None = None) -> list[MoneyRow]:
        """Per day and charger, oldest day first; unpaid and expired quotes do not count."""
        rows = await self._db.fetchall(
            "SELECT date(s.created_at, 'unixepoch') AS day, s.charger_id, COUNT(*) AS sessions,"
            " SUM(s.paid_msat) AS paid,"
            " SUM(CASE WHEN s.state IN ('refunding', 'closed')"
            "   THEN s.paid_msat - COALESCE(s.refund_msat, 0) ELSE 0 END) AS kept,"
            " SUM(CASE WHEN r.status = 'paid' THEN r.amount_msat ELSE 0 END) AS refunded,"
            " SUM(CASE WHEN s.state = 'refunding' THEN COALESCE(s.refund_msat, 0)"
            "   ELSE 0 END) AS owed,"
            " SUM(CASE WHEN s.state IN ('paid', 'starting', 'charging', 'stopping', 'settling',"
            " 'failed_to_start') THEN s.paid_msat ELSE 0 END)"
            "   AS in_flight"
            " FROM sessions s LEFT JOIN refunds r ON r.session_id = s.id"
            " WHERE s.state NOT IN ('quoted', 'expired') AND s.created_at >= ?"
            " GROUP BY day, s.charger_id ORDER BY day, s.charger_id",
            (since if since is not None else 0.0,),
        )
        return [
            MoneyRow(
                day=row["day"],
                charger_id=row["charger_id"],
                sessions=row["sessions"],
                paid_msat=row["paid"] or 0,
                kept_msat=row["kept"] or 0,
                refunded_msat=row["refunded"] or 0,
                owed_msat=row["owed"] or 0,
                in_flight_msat=row["in_flight"] or 0,
            )
            for row in rows
        ]

    async def queued_events(self, limit: int = 500) -> list[QueuedEvent]:
        rows = await self._db.fetchall(
            "SELECT id, event_id, kind, pubkey, relays, attempts, next_attempt_at, last_error,"
            " created_at FROM outbox WHERE state = 'pending' ORDER BY next_attempt_at, id LIMIT ?",
            (limit,),
        )
        queued: list[QueuedEvent] = []
        for row in rows:
            relays = tuple(json.loads(row["relays"]))
            taken = {
                r["relay_url"]
                for r in await self._db.fetchall(
                    "SELECT relay_url FROM outbox_results WHERE outbox_id = ? AND ok = 1",
                    (row["id"],),
                )
            }
            queued.append(
                QueuedEvent(
                    id=row["id"],
                    event_id=row["event_id"],
                    kind=row["kind"],
                    pubkey=row["pubkey"],
                    relays=relays,
                    waiting_for=tuple(r for r in relays if r not in taken),
                    attempts=row["attempts"],
                    next_attempt_at=row["next_attempt_at"],
                    last_error=row["last_error"],
                    created_at=row["created_at"],
                )
            )
        return queued

    async def record_action(
        self,
        *,
        at: float,
        operator: str,
        action: str,
        target: str,
        params: dict[str, Any],
        outcome: str,
        detail: str,
    ) -> int:
        return await self._db.insert(
            "INSERT INTO console_actions (at, operator, action, target, params, outcome, detail)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (at, operator, action, target, json.dumps(params, sort_keys=True), outcome, detail),
        )

    async def actions(self, limit: int = 100) -> list[ConsoleAction]:
        rows = await self._db.fetchall(
            "SELECT * FROM console_actions ORDER BY id DESC LIMIT ?", (limit,)
        )
        return [
            ConsoleAction(
                id=row["id"],
                at=row["at"],
                operator=row["operator"],
                action=row["action"],
                target=row["target"],
                params=json.loads(row["params"]),
                outcome=row["outcome"],
                detail=row["detail"],
            )
            for row in rows
        ]


def _marks(values: Sequence[object]) -> str:
    return ", ".join("?" * len(values))
