"""Rows of ``reservations`` and their transition log, handed over as plain rows; no rules
(those, and the typed record made from a row, are :mod:`bot.reservations.book`'s).

A state change is a compare-and-set (``UPDATE ... WHERE id = ? AND state = ?``) in the same
transaction as its log row: of two callers that both try to move a reservation on, exactly
one wins. States are plain strings here; the caller has checked the move against the table.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Collection, Sequence
from typing import Any

from bot.errors import StoreError
from bot.store.db import Database, Row

__all__ = ["MUTABLE_FIELDS", "ReservationStore"]

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
        quote: str,
        payment_hash: str,
        fee_msat: int,
        minutes: float,
        state: str,
    ) -> Row:
        now = self._clock()
        new_id = await self._db.insert(
            "INSERT INTO reservations (charger_id, connector_id, state, token, id_tag,"
            " payer_pubkey, payer_relays, quote, payment_hash, fee_msat, minutes, created_at,"
            " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                charger_id,
                connector_id,
                state,
                token,
                id_tag,
                payer_pubkey,
                json.dumps(list(payer_relays)),
                quote,
                payment_hash,
                fee_msat,
                minutes,
                now,
                now,
            ),
        )
        found = await self.get(new_id)
        assert found is not None  # just inserted, in this process
        return found

    async def get(self, reservation_id: int) -> Row | None:
        return await self._one("id = ?", (reservation_id,))

    async def by_payment_hash(self, payment_hash: str) -> Row | None:
        return await self._one("payment_hash = ?", (payment_hash,))

    async def by_token(self, token: str) -> Row | None:
        return await self._one("token = ?", (token,))

    async def in_states(self, states: Collection[str], charger_id: str | None = None) -> list[Row]:
        values = list(states)
        where = f"state IN ({_marks(values)})"
        if charger_id is not None:
            where, values = f"charger_id = ? AND {where}", [charger_id, *values]
        rows = await self._db.fetchall(
            f"SELECT * FROM reservations WHERE {where} ORDER BY id",  # noqa: S608 -- only placeholders are interpolated
            values,
        )
        return list(rows)

    async def to_release(self) -> list[Row]:
        rows = await self._db.fetchall(
            "SELECT * FROM reservations WHERE release_pending = 1 ORDER BY id"
        )
        return list(rows)

    async def transition(
        self, reservation_id: int, expected: str, new: str, event: str, **fields: Any
    ) -> Row | None:
        """From ``expected`` to ``new`` and set ``fields``, atomically, with its log row;
        None when the reservation was not in ``expected`` (another caller won)."""
        async with self._db.transaction() as tx:
            values = {"state": new, **_checked(fields)}
            columns = "".join(f", {name} = ?" for name in values)
            changed = await tx.execute(
                f"UPDATE reservations SET updated_at = ?{columns} WHERE id = ? AND state = ?",  # noqa: S608 -- column names come from MUTABLE_FIELDS
                (self._clock(), *values.values(), reservation_id, expected),
            )
            if changed != 1:
                return None
            await tx.execute(
                "INSERT INTO reservation_transitions (reservation_id, from_state, to_state,"
                " event, at) VALUES (?, ?, ?, ?, ?)",
                (reservation_id, expected, new, event, self._clock()),
            )
            row = await tx.fetchone("SELECT * FROM reservations WHERE id = ?", (reservation_id,))
        return row

    async def update(self, reservation_id: int, expected: str, **fields: Any) -> bool:
        """Facts without a state change, only while still in ``expected``."""
        values = _checked(fields)
        columns = ", ".join(f"{name} = ?" for name in values)
        changed = await self._db.execute(
            f"UPDATE reservations SET updated_at = ?, {columns} WHERE id = ? AND state = ?",  # noqa: S608 -- column names come from MUTABLE_FIELDS
            (self._clock(), *values.values(), reservation_id, expected),
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

    async def history(self, reservation_id: int) -> list[tuple[str, str, str]]:
        rows = await self._db.fetchall(
            "SELECT from_state, to_state, event FROM reservation_transitions"
            " WHERE reservation_id = ? ORDER BY id",
            (reservation_id,),
        )
        return [(r["from_state"], r["to_state"], r["event"]) for r in rows]

    async def _one(self, where: str, params: Sequence[Any]) -> Row | None:
        row = await self._db.fetchone(f"SELECT * FROM reservations WHERE {where}", params)  # noqa: S608 -- callers pass fixed SQL
        return row


def _checked(fields: dict[str, Any]) -> dict[str, Any]:
    unknown = set(fields) - MUTABLE_FIELDS
    if unknown:
        raise StoreError(f"cannot set reservation fields {sorted(unknown)}")
    return {k: int(v) if isinstance(v, bool) else v for k, v in fields.items()}


def _marks(values: Sequence[object]) -> str:
    return ", ".join("?" * len(values))
