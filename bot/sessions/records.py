"""Every write to a session's record (:mod:`bot.sessions.record`), through the one table.

:class:`SessionRecords` is the only writer of sessions rows: it asks
:mod:`bot.sessions.machine` before each state change, and the store
(:class:`bot.store.sessions.SessionRows`) only runs the compare-and-set it is handed.
Callers persist the transition first and only then act (send RemoteStart, pay), so a
crash never leaves an action done that the record does not know may have happened.

What may change is typed (:class:`~bot.sessions.record.SessionFields`): a misspelt field
is a mypy error.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Collection, Sequence
from typing import Unpack

from bot.errors import IllegalTransition, SessionError
from bot.sessions.ids import SessionIds, id_tag_for
from bot.sessions.machine import TERMINAL, TOPUP_STATES, Event, State, advance, allowed
from bot.sessions.record import (
    MUTABLE_FIELDS,
    RefundOrigin,
    Session,
    SessionFields,
    TopUp,
    TopUpResult,
)
from bot.sessions.tariff import Quote
from bot.store.db import Database, Row
from bot.store.sessions import Move, SessionRows

__all__ = ["SessionRecords"]


# A top-up paid after its session stopped taking money: a refund-only session of its own,
# born paid and moved on at once, so no worker ever sees it ``paid`` and starts a charge.
_LATE_TOPUP_PATH = ((State.QUOTED, Event.INVOICE_PAID), (State.PAID, Event.LATE_TOPUP))


class SessionRecords:
    def __init__(
        self,
        db: Database,
        *,
        clock: Callable[[], float] = time.time,
        ids: SessionIds | None = None,
    ) -> None:
        self._rows = SessionRows(db, clock=clock)
        self._clock = clock
        self._ids = ids or SessionIds()

    # -- creation ---------------------------------------------------------------------------

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
        if payment_hash is not None and await self.by_payment_hash(payment_hash):
            raise SessionError(f"invoice {payment_hash} already has a session")
        session_id = self._ids.session_id()
        values = self._identity(session_id, charger_id, connector_id, quote, payer_pubkey)
        await self._rows.insert(
            {
                **values,
                "state": State.QUOTED.value,
                "payer_relays": json.dumps(list(payer_relays)),
                "payment_hash": payment_hash,
            }
        )
        return await self.load(session_id)

    async def open_refund(
        self, origin: RefundOrigin, payment_hash: str, amount_msat: int, *, reason: str
    ) -> Session:
        """A refund-only session for a payment ``origin`` can no longer take (a top-up paid
        after it stopped taking money, or a reservation's fee going back), written straight
        into ``failed_to_start`` along the table's own path in one transaction: no crash can
        leave it ``paid``.

        Idempotent by payment hash (the UNIQUE index on ``sessions.payment_hash``): asked
        again, it returns the session made the first time."""
        if amount_msat <= 0:
            raise ValueError("a refund must be positive")
        moves: list[Move] = []
        for state, event in _LATE_TOPUP_PATH:
            moves.append((state.value, advance(state, event).value, event.value))
        session_id = self._ids.session_id()
        values = self._identity(
            session_id, origin.charger_id, origin.connector_id, origin.quote, origin.payer_pubkey
        )
        made = await self._rows.insert_moved(
            {
                **values,
                "payer_relays": json.dumps(list(origin.payer_relays)),
                "payment_hash": payment_hash,
                "paid_msat": amount_msat,
                "stop_reason": reason,
                "stopped_at": self._clock(),
            },
            moves,
        )
        return await self.load(made)

    def _identity(
        self,
        session_id: str,
        charger_id: str,
        connector_id: int,
        quote: Quote,
        payer_pubkey: str | None,
    ) -> dict[str, object]:
        return {
            "id": session_id,
            "charger_id": charger_id,
            "connector_id": connector_id,
            "token": self._ids.page_token(),
            "id_tag": id_tag_for(session_id),
            "payer_pubkey": payer_pubkey,
            "quote": quote.to_json(),
        }

    # -- reads ------------------------------------------------------------------------------

    async def get(self, session_id: str) -> Session | None:
        return _session(await self._rows.by_id(session_id))

    async def load(self, session_id: str) -> Session:
        session = await self.get(session_id)
        if session is None:
            raise SessionError(f"no session {session_id}")
        return session

    async def by_id_tag(self, id_tag: str) -> Session | None:
        # Chargers may echo an idTag in another case: CiString compares case-insensitively.
        return _session(await self._rows.by_id_tag(id_tag.upper()))

    async def by_token(self, token: str) -> Session | None:
        return _session(await self._rows.by_token(token))

    async def by_payment_hash(self, payment_hash: str) -> Session | None:
        return _session(await self._rows.by_payment_hash(payment_hash))

    async def by_transaction(self, charger_id: str, transaction_id: int) -> Session | None:
        return _session(await self._rows.by_transaction(charger_id, transaction_id))

    async def list_by_state(self, *states: State) -> list[Session]:
        return [Session.from_row(row) for row in await self._rows.in_states(_values(states))]

    async def list_unfinished(self) -> list[Session]:
        """Every session a restarted service must resume (see machine.RESUME)."""
        return await self.list_by_state(*(s for s in State if s not in TERMINAL))

    async def active_on(
        self, charger_id: str, connector_id: int, states: Collection[State] | None = None
    ) -> list[Session]:
        """Unfinished sessions on one connector (or those in ``states``), oldest first."""
        wanted = _UNFINISHED if states is None else _values(states)
        rows = await self._rows.on_connector(charger_id, connector_id, wanted)
        return [Session.from_row(row) for row in rows]

    async def topups(self, session_id: str) -> list[TopUp]:
        rows = await self._rows.topups(session_id)
        return [TopUp(**{name: row[name] for name in TopUp.__dataclass_fields__}) for row in rows]

    async def history(self, session_id: str) -> list[tuple[State, State, Event | None]]:
        return [
            (
                State(r["from_state"]),
                State(r["to_state"]),
                Event(r["event"]) if r["event"] else None,
            )
            for r in await self._rows.history(session_id)
        ]

    # -- state writes -----------------------------------------------------------------------

    async def transition(
        self,
        session_id: str,
        expected: State,
        new: State,
        *,
        event: Event | None = None,
        **fields: Unpack[SessionFields],
    ) -> Session | None:
        """Move from ``expected`` to ``new`` and set ``fields``, atomically.

        Returns the updated session, or ``None`` when the session was not in ``expected``
        (another caller won, or there is no such session). Raises IllegalTransition when
        the table has no such transition."""
        if event is not None and advance(expected, event) != new:
            raise IllegalTransition(str(expected), str(new), event=str(event))
        if not allowed(expected, new):
            raise IllegalTransition(str(expected), str(new))
        move = (expected.value, new.value, event.value if event is not None else None)
        return _session(await self._rows.move(session_id, move, _checked(fields)))

    async def apply(
        self, session_id: str, expected: State, event: Event, **fields: Unpack[SessionFields]
    ) -> Session | None:
        """:meth:`transition` to wherever ``event`` leads from ``expected``."""
        return await self.transition(
            session_id, expected, advance(expected, event), event=event, **fields
        )

    async def update(
        self, session_id: str, expected: State, **fields: Unpack[SessionFields]
    ) -> bool:
        """Record facts without a state change (start accepted, progress sent, ...), only
        while the session is still in ``expected``. False when it has moved on."""
        return await self._rows.set(session_id, [expected.value], _checked(fields))

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
        fields: SessionFields = {
            "energy_wh": energy_wh,
            "minutes": minutes,
            "idle_minutes": idle_minutes,
            "consumed_msat": consumed_msat,
            "fees_msat": fees_msat,
            "last_meter_at": self._clock(),
        }
        running = [State.CHARGING.value, State.STOPPING.value]
        return await self._rows.set(session_id, running, _checked(fields))

    async def add_topup(
        self,
        session_id: str,
        payment_hash: str,
        amount_msat: int,
        *,
        payer_pubkey: str | None,
    ) -> TopUpResult:
        """Count a paid follow-up invoice once, while the session still takes money (the
        table's ``topup_paid`` self-loops)."""
        if amount_msat <= 0:
            raise ValueError("a top-up must be positive")
        outcome = await self._rows.add_topup(
            session_id, payment_hash, amount_msat, payer_pubkey, _values(TOPUP_STATES)
        )
        return TopUpResult(outcome)


def _checked(fields: SessionFields) -> dict[str, object]:
    unknown = set(fields) - MUTABLE_FIELDS
    if unknown:
        raise SessionError(f"cannot set session fields {sorted(unknown)}")
    return dict(fields)


def _session(row: Row | None) -> Session | None:
    return Session.from_row(row) if row is not None else None


# Asked at every connect, disconnect and StatusNotification: not rebuilt from the enum each time.
_UNFINISHED = [s.value for s in State if s not in TERMINAL]


def _values(states: Collection[State]) -> list[str]:
    return [s.value for s in states]
