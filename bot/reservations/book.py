"""The reservation record and the one API other packages use to read and move reservations.

:class:`ReservationBook` turns the store's plain rows into :class:`Reservation` records and
checks every state write against the table of :mod:`bot.reservations.machine` before the
store's compare-and-set runs; nothing else writes a reservation's state.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.errors import SessionError
from bot.reservations.machine import ACTIVE, HOLDING, Event, State, advance
from bot.sessions.record import Columns
from bot.sessions.tariff import Quote
from bot.store.db import Database
from bot.store.reservations import ReservationStore

__all__ = ["Reservation", "ReservationBook"]


@dataclass(frozen=True)
class Reservation:
    id: int  # also the OCPP reservationId
    charger_id: str
    connector_id: int
    state: State
    token: str = field(repr=False)  # the reservation page's bearer secret
    id_tag: str  # what the charger holds the connector for
    payer_pubkey: str | None
    payer_relays: tuple[str, ...]
    quote: Quote  # the charging price when the fee was quoted
    payment_hash: str
    fee_msat: int
    minutes: float
    paid_msat: int
    kept_msat: int
    refund_msat: int | None
    credited_session_id: str | None
    refund_session_id: str | None
    end_reason: str | None
    reserved_at: float | None
    expires_at: float | None
    release_pending: bool
    created_at: float
    updated_at: float

    @classmethod
    def of(cls, row: Columns) -> Reservation:
        """The record of a stored row (the store keeps relays as JSON and flags as 0/1)."""
        values = {name: row[name] for name in cls.__dataclass_fields__}
        values["state"] = State(row["state"])
        values["quote"] = Quote.from_json(row["quote"])
        values["payer_relays"] = tuple(json.loads(row["payer_relays"]))
        values["release_pending"] = bool(row["release_pending"])
        return cls(**values)


def _of(row: Columns | None) -> Reservation | None:
    return Reservation.of(row) if row is not None else None


class ReservationBook:
    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self.rows = ReservationStore(db, clock=clock)

    async def open(
        self,
        charger_id: str,
        connector_id: int,
        *,
        token: str,
        id_tag: str,
        payer_pubkey: str | None,
        payer_relays: Sequence[str],
        quote: Quote,
        payment_hash: str,
        fee_msat: int,
        minutes: float,
    ) -> Reservation:
        """A new reservation in ``quoted``: its fee invoice is issued, not paid."""
        row = await self.rows.create(
            charger_id,
            connector_id,
            token=token,
            id_tag=id_tag,
            payer_pubkey=payer_pubkey,
            payer_relays=payer_relays,
            quote=quote.to_json(),
            payment_hash=payment_hash,
            fee_msat=fee_msat,
            minutes=minutes,
            state=State.QUOTED.value,
        )
        return Reservation.of(row)

    async def get(self, reservation_id: int) -> Reservation | None:
        return _of(await self.rows.get(reservation_id))

    async def load(self, reservation_id: int) -> Reservation:
        found = await self.get(reservation_id)
        if found is None:
            raise SessionError(f"no reservation {reservation_id}")
        return found

    async def by_payment_hash(self, payment_hash: str) -> Reservation | None:
        return _of(await self.rows.by_payment_hash(payment_hash))

    async def by_token(self, token: str) -> Reservation | None:
        return _of(await self.rows.by_token(token))

    async def in_states(
        self, states: Collection[State], charger_id: str | None = None
    ) -> list[Reservation]:
        rows = await self.rows.in_states([s.value for s in states], charger_id)
        return [Reservation.of(row) for row in rows]

    async def active(self) -> list[Reservation]:
        """Every reservation a restarted service must look after (machine.ACTIVE)."""
        return await self.in_states(ACTIVE)

    async def holding(self, charger_id: str) -> list[Reservation]:
        """Paid reservations not over yet on a charger: their connectors are held."""
        return await self.in_states(HOLDING, charger_id)

    async def to_release(self) -> list[Reservation]:
        return [Reservation.of(row) for row in await self.rows.to_release()]

    async def apply(
        self, reservation_id: int, expected: State, event: Event, **fields: Any
    ) -> Reservation | None:
        """Move on by ``event`` (IllegalTransition if the table has no such row), persisted
        with ``fields``; None when the reservation was not in ``expected``."""
        new = advance(expected, event)
        return _of(
            await self.rows.transition(
                reservation_id, expected.value, new.value, event.value, **fields
            )
        )

    async def update(self, reservation_id: int, expected: State, **fields: Any) -> bool:
        return await self.rows.update(reservation_id, expected.value, **fields)

    async def released(self, reservation_id: int) -> None:
        await self.rows.released(reservation_id)

    async def claim_notice(self, reservation_id: int, notice: str) -> bool:
        return await self.rows.claim_notice(reservation_id, notice)

    async def history(self, reservation_id: int) -> list[tuple[State, State, Event]]:
        return [
            (State(old), State(new), Event(event))
            for old, new, event in await self.rows.history(reservation_id)
        ]
