"""The reservations repository: rows of ``reservations`` and their transition log.

A state change is a compare-and-set (``UPDATE ... WHERE id = ? AND state = ?``) in the same
transaction as its log row, checked against the table of :mod:`bot.reservations.machine`:
of two callers that both try to move a reservation on, exactly one wins.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.errors import SessionError
from bot.reservations.machine import ACTIVE, HOLDING, Event, State, advance
from bot.sessions.tariff import Quote
from bot.store.db import Database, Row

__all__ = ["MUTABLE_FIELDS", "Reservation", "ReservationStore"]

MUTABLE_FIELDS = frozenset(
    {
        "id_tag",
        "paid_msat",
        "kept_msat",
        "refund_msat",
        "credited_session_id",
        "refund_session_id",
        "end_reason",
        "reserved_at",
        "expires_at",
        "release_pending",
    }
)


@dataclass(frozen=True)
class Reservation:
    id: int  # also the OCPP reservationId
    charger_id: str
    connector_id: int
    state: State
    token: str = field(repr=False)
    id_tag: str
    payer_pubkey: str | None
    payer_relays: tuple[str, ...]
    quote: Quote
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
    def from_row(cls, row: Row) -> Reservation:
        values = {name: row[name] for name in cls.__dataclass_fields__}
        values["state"] = State(row["state"])
        values["payer_relays"] = tuple(json.loads(row["payer_relays"]))
        values["quote"] = Quote.from_json(row["quote"])
        values["release_pending"] = bool(row["release_pending"])
        return cls(**values)


class ReservationStore:
    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    async def create(
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
        now = self._clock()
        new_id = await self._db.insert(
            "INSERT INTO reservations (charger_id, connector_id, state, token, id_tag,"
            " payer_pubkey, payer_relays, quote, payment_hash, fee_msat, minutes, created_at,"
            " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                charger_id,
                connector_id,
                State.QUOTED.value,
                token,
                id_tag,
                payer_pubkey,
                json.dumps(list(payer_relays)),
                quote.to_json(),
                payment_hash,
                fee_msat,
                minutes,
                now,
                now,
            ),
        )
        return await self.load(new_id)

    async def get(self, reservation_id: int) -> Reservation | None:
        return await self._one("id = ?", (reservation_id,))

    async def load(self, reservation_id: int) -> Reservation:
        found = await self.get(reservation_id)
        if found is None:
            raise SessionError(f"no reservation {reservation_id}")
        return found

    async def by_payment_hash(self, payment_hash: str) -> Reservation | None:
        return await self._one("payment_hash = ?", (payment_hash,))

    async def by_token(self, token: str) -> Reservation | None:
        return await self._one("token = ?", (token,))

    async def in_states(self, states: Collection[State]) -> list[Reservation]:
        values = [s.value for s in states]
        rows = await self._db.fetchall(
            f"SELECT * FROM reservations WHERE state IN ({_marks(values)}) ORDER BY id",  # noqa: S608 -- only placeholders are interpolated
            values,
        )
        return [Reservation.from_row(row) for row in rows]

    async def active(self) -> list[Reservation]:
        """Every reservation a restarted service must look after (machine.ACTIVE)."""
        return await self.in_states(ACTIVE)

    async def holding(self, charger_id: str) -> list[Reservation]:
        """Paid reservations not over yet on a charger: their connectors are held."""
        values = [s.value for s in HOLDING]
        where = f"charger_id = ? AND state IN ({_marks(values)}) ORDER BY id"
        rows = await self._db.fetchall(
            f"SELECT * FROM reservations WHERE {where}",  # noqa: S608 -- only placeholders are interpolated
            [charger_id, *values],
        )
        return [Reservation.from_row(row) for row in rows]

    async def to_release(self) -> list[Reservation]:
        rows = await self._db.fetchall(
            "SELECT * FROM reservations WHERE release_pending = 1 ORDER BY id"
        )
        return [Reservation.from_row(row) for row in rows]

    async def apply(
        self, reservation_id: int, expected: State, event: Event, **fields: Any
    ) -> Reservation | None:
        """Move on by ``event`` from ``expected`` and set ``fields``, atomically; None when
        the reservation was not in ``expected`` (another caller won)."""
        new = advance(expected, event)
        async with self._db.transaction() as tx:
            values = {"state": new.value, **_checked(fields)}
            columns = "".join(f", {name} = ?" for name in values)
            changed = await tx.execute(
                f"UPDATE reservations SET updated_at = ?{columns} WHERE id = ? AND state = ?",  # noqa: S608 -- column names come from MUTABLE_FIELDS
                (self._clock(), *values.values(), reservation_id, expected.value),
            )
            if changed != 1:
                return None
            await tx.execute(
                "INSERT INTO reservation_transitions (reservation_id, from_state, to_state,"
                " event, at) VALUES (?, ?, ?, ?, ?)",
                (reservation_id, expected.value, new.value, event.value, self._clock()),
            )
            row = await tx.fetchone("SELECT * FROM reservations WHERE id = ?", (reservation_id,))
        return Reservation.from_row(row) if row else None

    async def update(self, reservation_id: int, expected: State, **fields: Any) -> bool:
        """Facts without a state change, only while still in ``expected``."""
        values = _checked(fields)
        columns = ", ".join(f"{name} = ?" for name in values)
        changed = await self._db.execute(
            f"UPDATE reservations SET updated_at = ?, {columns} WHERE id = ? AND state = ?",  # noqa: S608 -- column names come from MUTABLE_FIELDS
            (self._clock(), *values.values(), reservation_id, expected.value),
        )
        return changed == 1

    async def released(self, reservation_id: int) -> None:
        """The charger answered CancelReservation (or cannot hold it any more)."""
        await self._db.execute(
            "UPDATE reservations SET release_pending = 0 WHERE id = ?", (reservation_id,)
        )

    async def claim_notice(self, reservation_id: int, notice: str) -> bool:
        """True for the one caller that may send ``notice`` (see bot.store.notices)."""
        changed = await self._db.execute(
            "INSERT OR IGNORE INTO reservation_notices (reservation_id, notice, at)"
            " VALUES (?, ?, ?)",
            (reservation_id, notice, self._clock()),
        )
        return changed == 1

    async def history(self, reservation_id: int) -> list[tuple[State, State, Event]]:
        rows = await self._db.fetchall(
            "SELECT from_state, to_state, event FROM reservation_transitions"
            " WHERE reservation_id = ? ORDER BY id",
            (reservation_id,),
        )
        return [(State(r["from_state"]), State(r["to_state"]), Event(r["event"])) for r in rows]

    async def _one(self, where: str, params: Sequence[Any]) -> Reservation | None:
        row = await self._db.fetchone(f"SELECT * FROM reservations WHERE {where}", params)  # noqa: S608 -- callers pass fixed SQL
        return Reservation.from_row(row) if row else None


def _checked(fields: dict[str, Any]) -> dict[str, Any]:
    unknown = set(fields) - MUTABLE_FIELDS
    if unknown:
        raise SessionError(f"cannot set reservation fields {sorted(unknown)}")
    return {k: int(v) if isinstance(v, bool) else v for k, v in fields.items()}


def _marks(values: Sequence[object]) -> str:
    return ", ".join("?" * len(values))
