"""The sessions repository: rows of ``sessions``, their top-ups and their transition log.

Every state change is a compare-and-set, ``UPDATE ... WHERE id = ? AND state = ?``, in the
same transaction as its log row: of two callers that read the same state and both try to
move on, exactly one wins and the other gets ``None``. Callers persist the transition
first and only then act (send RemoteStart, pay), so a crash never leaves an action done
that the store does not know may have happened.
"""

from __future__ import annotations

import enum
import json
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.errors import IllegalTransition, SessionError
from bot.sessions.ids import SessionIds, id_tag_for
from bot.sessions.machine import TERMINAL, TOPUP_STATES, Event, State, advance, allowed
from bot.sessions.tariff import Quote
from bot.store.db import Database, Row, Transaction

__all__ = ["MUTABLE_FIELDS", "RefundOrigin", "Session", "SessionStore", "TopUp", "TopUpResult"]

# Columns that transitions and updates may set. Identity, state and money-in columns are
# not here: state moves only through transition(), paid_msat grows only through top-ups
# (or is set once by the invoice_paid transition, which is why it *is* listed).
MUTABLE_FIELDS = frozenset(
    {
        "paid_msat",
        "consumed_msat",
        "fees_msat",
        "refund_msat",
        "waived_msat",
        "transaction_id",
        "meter_start_wh",
        "meter_stop_wh",
        "energy_wh",
        "minutes",
        "idle_minutes",
        "last_meter_at",
        "stop_reason",
        "started_at",
        "stopped_at",
        "start_deadline",
        "start_accepted_at",
        "stop_requested_at",
        "progress_wh",
        "progress_at",
    }
)


@dataclass(frozen=True)
class Session:
    id: str
    charger_id: str
    connector_id: int
    state: State
    token: str = field(repr=False)  # the page's bearer secret
    id_tag: str
    payer_pubkey: str | None
    payer_relays: tuple[str, ...]
    quote: Quote
    payment_hash: str | None
    paid_msat: int
    consumed_msat: int
    fees_msat: int
    refund_msat: int | None
    waived_msat: int
    transaction_id: int | None
    meter_start_wh: int | None
    meter_stop_wh: int | None
    energy_wh: int
    minutes: int
    idle_minutes: int
    last_meter_at: float | None
    stop_reason: str | None
    created_at: float
    updated_at: float
    started_at: float | None
    stopped_at: float | None
    start_deadline: float | None
    start_accepted_at: float | None
    stop_requested_at: float | None
    progress_wh: int
    progress_at: float | None

    @classmethod
    def from_row(cls, row: Row) -> Session:
        values = {name: row[name] for name in cls.__dataclass_fields__}
        values["state"] = State(row["state"])
        values["payer_relays"] = tuple(json.loads(row["payer_relays"]))
        values["quote"] = Quote.from_json(row["quote"])
        return cls(**values)


class RefundOrigin(Protocol):
    """Where a refund-only session comes from: a session, or a reservation whose fee goes back."""

    @property
    def charger_id(self) -> str: ...
    @property
    def connector_id(self) -> int: ...
    @property
    def payer_pubkey(self) -> str | None: ...
    @property
    def payer_relays(self) -> tuple[str, ...]: ...
    @property
    def quote(self) -> Quote: ...


class TopUpResult(enum.Enum):
    APPLIED = "applied"
    ALREADY_APPLIED = "already_applied"  # the same invoice was counted before
    REFUSED = "refused"  # the session no longer takes money: refund this payment alone


@dataclass(frozen=True)
class TopUp:
    payment_hash: str
    session_id: str
    amount_msat: int
    payer_pubkey: str | None
    created_at: float


class SessionStore:
    def __init__(
        self,
        db: Database,
        *,
        clock: Callable[[], float] = time.time,
        ids: SessionIds | None = None,
    ) -> None:
        self._db = db
        self._clock = clock
        self._ids = ids or SessionIds()

    async def create(
        self,
        charger_id: str,
        connector_id: int,
        quote: Quote,
        *,
        payer_pubkey: str | None,
        payer_relays: Sequence[str] = (),
        payment_hash: str | None = None,
    ) -> Session:
        """A new session in state ``quoted``, with fresh id, page token and idTag."""
        session_id = self._ids.session_id()
        now = self._clock()
        if payment_hash is not None and await self.by_payment_hash(payment_hash):
            raise SessionError(f"invoice {payment_hash} already has a session")
        await self._db.execute(
            "INSERT INTO sessions (id, charger_id, connector_id, state, token, id_tag,"
            " payer_pubkey, payer_relays, quote, payment_hash, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                session_id,
                charger_id,
                connector_id,
                State.QUOTED.value,
                self._ids.page_token(),
                id_tag_for(session_id),
                payer_pubkey,
                json.dumps(list(payer_relays)),
                quote.to_json(),
                payment_hash,
                now,
                now,
            ),
        )
        return await self.load(session_id)

    async def get(self, session_id: str) -> Session | None:
        return await self._one("id = ?", (session_id,))

    async def load(self, session_id: str) -> Session:
        session = await self.get(session_id)
        if session is None:
            raise SessionError(f"no session {session_id}")
        return session

    async def by_id_tag(self, id_tag: str) -> Session | None:
        # Chargers may echo an idTag in another case: CiString compares case-insensitively.
        return await self._one("id_tag = ?", (id_tag.upper(),))

    async def by_token(self, token: str) -> Session | None:
        return await self._one("token = ?", (token,))

    async def by_payment_hash(self, payment_hash: str) -> Session | None:
        return await self._one("payment_hash = ?", (payment_hash,))

    async def by_transaction(self, charger_id: str, transaction_id: int) -> Session | None:
        """Transaction ids are unique per charger only, and may repeat after a reset."""
        return await self._one(
            "charger_id = ? AND transaction_id = ? ORDER BY created_at DESC LIMIT 1",
            (charger_id, transaction_id),
        )

    async def list_by_state(self, *states: State) -> list[Session]:
        rows = await self._db.fetchall(
            f"SELECT * FROM sessions WHERE state IN ({_marks(states)}) ORDER BY created_at",  # noqa: S608 -- only placeholders are interpolated
            [s.value for s in states],
        )
        return [Session.from_row(row) for row in rows]

    async def list_unfinished(self) -> list[Session]:
        """Every session a restarted service must resume (see machine.RESUME)."""
        return await self.list_by_state(*(s for s in State if s not in TERMINAL))

    async def active_on(
        self, charger_id: str, connector_id: int, states: Collection[State] | None = None
    ) -> list[Session]:
        """Unfinished sessions on one connector (or those in ``states``), oldest first."""
        wanted = [s for s in State if s not in TERMINAL] if states is None else states
        values = [s.value for s in wanted]
        where = f"charger_id = ? AND connector_id = ? AND state IN ({_marks(values)})"
        rows = await self._db.fetchall(
            f"SELECT * FROM sessions WHERE {where} ORDER BY created_at",  # noqa: S608 -- only placeholders are interpolated
            [charger_id, connector_id, *values],
        )
        return [Session.from_row(row) for row in rows]

    async def transition(
        self,
        session_id: str,
        expected: State,
        new: State,
        *,
        event: Event | None = None,
        **fields: Any,
    ) -> Session | None:
        """Move from ``expected`` to ``new`` and set ``fields``, atomically.

        Returns the updated session, or ``None`` when the session was not in ``expected``
        (another caller won, or there is no such session). Raises IllegalTransition when
        the table has no such transition."""
        if event is not None and advance(expected, event) != new:
            raise IllegalTransition(str(expected), str(new), event=str(event))
        if not allowed(expected, new):
            raise IllegalTransition(str(expected), str(new))
        async with self._db.transaction() as tx:
            if not await self._set(tx, session_id, expected, fields, new_state=new):
                return None
            await tx.execute(
                "INSERT INTO session_transitions (session_id, from_state, to_state, event, at)"
                " VALUES (?, ?, ?, ?, ?)",
                (session_id, expected.value, new.value, event and event.value, self._clock()),
            )
            row = await tx.fetchone("SELECT * FROM sessions WHERE id = ?", (session_id,))
        return Session.from_row(row) if row else None

    async def apply(
        self, session_id: str, expected: State, event: Event, **fields: Any
    ) -> Session | None:
        """:meth:`transition` to wherever ``event`` leads from ``expected``."""
        return await self.transition(
            session_id, expected, advance(expected, event), event=event, **fields
        )

    async def update(self, session_id: str, expected: State, **fields: Any) -> bool:
        """Record facts without a state change (start accepted, progress sent, ...), only
        while the session is still in ``expected``. False when it has moved on."""
        async with self._db.transaction() as tx:
            return await self._set(tx, session_id, expected, fields)

    async def record_consumption(
        self,
        session_id: str,
        *,
        energy_wh: int,
        minutes: int,
        idle_minutes: int,
        consumed_msat: int,
        fees_msat: int,
    ) -> bool:
        """The running numbers of a session that is charging or stopping; once settling,
        they are frozen and this returns False."""
        fields = {
            "energy_wh": energy_wh,
            "minutes": minutes,
            "idle_minutes": idle_minutes,
            "consumed_msat": consumed_msat,
            "fees_msat": fees_msat,
            "last_meter_at": self._clock(),
        }
        async with self._db.transaction() as tx:
            for state in (State.CHARGING, State.STOPPING):
                if await self._set(tx, session_id, state, fields):
                    return True
        return False

    async def add_topup(
        self,
        session_id: str,
        payment_hash: str,
        amount_msat: int,
        *,
        payer_pubkey: str | None,
    ) -> TopUpResult:
        """Count a paid follow-up invoice once, while the session still takes money."""
        if amount_msat <= 0:
            raise ValueError("a top-up must be positive")
        states = [s.value for s in TOPUP_STATES]
        now = self._clock()
        async with self._db.transaction() as tx:
            if await tx.fetchone(
                "SELECT 1 FROM session_topups WHERE payment_hash = ?", (payment_hash,)
            ):
                return TopUpResult.ALREADY_APPLIED
            where = f"id = ? AND state IN ({_marks(states)})"
            changed = await tx.execute(
                f"UPDATE sessions SET paid_msat = paid_msat + ?, updated_at = ? WHERE {where}",  # noqa: S608 -- only placeholders are interpolated
                (amount_msat, now, session_id, *states),
            )
            if not changed:
                return TopUpResult.REFUSED
            await tx.execute(
                "INSERT INTO session_topups (payment_hash, session_id, amount_msat,"
                " payer_pubkey, created_at) VALUES (?, ?, ?, ?, ?)",
                (payment_hash, session_id, amount_msat, payer_pubkey, now),
            )
        return TopUpResult.APPLIED

    async def open_refund(
        self, origin: RefundOrigin, payment_hash: str, amount_msat: int, *, reason: str
    ) -> Session:
        """A refund-only session for a payment ``origin`` can no longer take (a top-up paid
        after it stopped taking money), written straight into ``failed_to_start`` in one
        transaction: no crash can leave it ``paid``, where a worker would start a charge.

        Idempotent by payment hash (the UNIQUE index on ``sessions.payment_hash``): asked
        again, it returns the session made the first time."""
        if amount_msat <= 0:
            raise ValueError("a refund must be positive")
        session_id, now = self._ids.session_id(), self._clock()
        async with self._db.transaction() as tx:
            found = await tx.fetchone(
                "SELECT id FROM sessions WHERE payment_hash = ?", (payment_hash,)
            )
            if found is not None:
                session_id = found["id"]
            else:
                await self._insert_refund(tx, session_id, origin, payment_hash, amount_msat)
                await tx.execute(
                    "UPDATE sessions SET stop_reason = ?, stopped_at = ? WHERE id = ?",
                    (reason, now, session_id),
                )
                for old, new, event in (
                    (State.QUOTED, State.PAID, Event.INVOICE_PAID),
                    (State.PAID, State.FAILED_TO_START, Event.LATE_TOPUP),
                ):
                    await tx.execute(
                        "INSERT INTO session_transitions"
                        " (session_id, from_state, to_state, event, at) VALUES (?, ?, ?, ?, ?)",
                        (session_id, old.value, new.value, event.value, now),
                    )
        return await self.load(session_id)

    async def _insert_refund(
        self,
        tx: Transaction,
        session_id: str,
        origin: RefundOrigin,
        payment_hash: str,
        amount_msat: int,
    ) -> None:
        now = self._clock()
        await tx.execute(
            "INSERT INTO sessions (id, charger_id, connector_id, state, token, id_tag,"
            " payer_pubkey, payer_relays, quote, payment_hash, paid_msat, created_at,"
            " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                session_id,
                origin.charger_id,
                origin.connector_id,
                State.FAILED_TO_START.value,
                self._ids.page_token(),
                id_tag_for(session_id),
                origin.payer_pubkey,
                json.dumps(list(origin.payer_relays)),
                origin.quote.to_json(),
                payment_hash,
                amount_msat,
                now,
                now,
            ),
        )

    async def topups(self, session_id: str) -> list[TopUp]:
        rows = await self._db.fetchall(
            "SELECT * FROM session_topups WHERE session_id = ? ORDER BY created_at, rowid",
            (session_id,),
        )
        return [TopUp(**{name: row[name] for name in TopUp.__dataclass_fields__}) for row in rows]

    async def history(self, session_id: str) -> list[tuple[State, State, Event | None]]:
        rows = await self._db.fetchall(
            "SELECT from_state, to_state, event FROM session_transitions"
            " WHERE session_id = ? ORDER BY id",
            (session_id,),
        )
        return [
            (
                State(r["from_state"]),
                State(r["to_state"]),
                Event(r["event"]) if r["event"] else None,
            )
            for r in rows
        ]

    async def _one(self, where: str, params: Sequence[Any]) -> Session | None:
        row = await self._db.fetchone(f"SELECT * FROM sessions WHERE {where}", params)  # noqa: S608 -- callers pass fixed SQL
        return Session.from_row(row) if row else None

    async def _set(
        self,
        tx: Transaction,
        session_id: str,
        expected: State,
        fields: dict[str, Any],
        new_state: State | None = None,
    ) -> bool:
        unknown = set(fields) - MUTABLE_FIELDS
        if unknown:
            raise SessionError(f"cannot set session fields {sorted(unknown)}")
        values = {"state": (new_state or expected).value, **fields}
        columns = "".join(f", {name} = ?" for name in values)
        changed = await tx.execute(
            f"UPDATE sessions SET updated_at = ?{columns} WHERE id = ? AND state = ?",  # noqa: S608 -- column names come from MUTABLE_FIELDS
            (self._clock(), *values.values(), session_id, expected.value),
        )
        return changed == 1


def _marks(values: Sequence[object]) -> str:
    return ", ".join("?" * len(values))
