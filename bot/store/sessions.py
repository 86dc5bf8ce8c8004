"""Rows of ``sessions``, their top-ups and their transition log; SQL only, no rules.

Every write is a compare-and-set, ``UPDATE ... WHERE id = ? AND state IN (...)``, and a
state change writes its log row in the same transaction: of two callers that read the
same state and both try to move on, exactly one wins and the other gets ``None``. Which
moves are legal, which columns may change and what a late top-up becomes is decided in
:mod:`bot.sessions.records`, the only caller of the writing methods here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Literal

from bot.errors import StoreError
from bot.store.db import Database, Row, Transaction

__all__ = ["Move", "SessionRows", "TopUpOutcome"]

# (from_state, to_state, event) as the transition log keeps it.
Move = tuple[str, str, str | None]
TopUpOutcome = Literal["applied", "already_applied", "refused"]


class SessionRows:
    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    # -- reads ------------------------------------------------------------------------------

    async def by_id(self, session_id: str) -> Row | None:
        return await self._one("id = ?", (session_id,))

    async def by_id_tag(self, id_tag: str) -> Row | None:
        return await self._one("id_tag = ?", (id_tag,))

    async def by_token(self, token: str) -> Row | None:
        return await self._one("token = ?", (token,))

    async def by_payment_hash(self, payment_hash: str) -> Row | None:
        return await self._one("payment_hash = ?", (payment_hash,))

    async def by_transaction(self, charger_id: str, transaction_id: int) -> Row | None:
        """Transaction ids are unique per charger only, and may repeat after a reset."""
        return await self._one(
            "charger_id = ? AND transaction_id = ? ORDER BY created_at DESC LIMIT 1",
            (charger_id, transaction_id),
        )

    async def in_states(self, states: Sequence[str]) -> list[Row]:
        return await self._db.fetchall(
            f"SELECT * FROM sessions WHERE state IN ({_marks(states)}) ORDER BY created_at",  # noqa: S608 -- only placeholders are interpolated
            list(states),
        )

    async def on_connector(
        self, charger_id: str, connector_id: int, states: Sequence[str]
    ) -> list[Row]:
        where = f"charger_id = ? AND connector_id = ? AND state IN ({_marks(states)})"
        return await self._db.fetchall(
            f"SELECT * FROM sessions WHERE {where} ORDER BY created_at",  # noqa: S608 -- only placeholders are interpolated
            [charger_id, connector_id, *states],
        )

    async def topups(self, session_id: str) -> list[Row]:
        return await self._db.fetchall(
            "SELECT * FROM session_topups WHERE session_id = ? ORDER BY created_at, rowid",
            (session_id,),
        )

    async def history(self, session_id: str) -> list[Row]:
        return await self._db.fetchall(
            "SELECT from_state, to_state, event FROM session_transitions"
            " WHERE session_id = ? ORDER BY id",
            (session_id,),
        )

    # -- writes (called by bot.sessions.records only) ---------------------------------------

    async def insert(self, values: Mapping[str, object]) -> None:
        """A new row; ``values`` name the columns (created_at/updated_at are set here)."""
        now = self._clock()
        row = {**values, "created_at": now, "updated_at": now}
        await self._db.execute(_insert_sql(row), tuple(row.values()))

    async def move(self, session_id: str, move: Move, values: Mapping[str, object]) -> Row | None:
        """Move the row from ``move``'s first state to its second, set ``values`` and log the
        move, in one transaction; the updated row, or None when it was not in that state."""
        async with self._db.transaction() as tx:
            changed = {**values, "state": move[1]}
            if not await self._set(tx, session_id, [move[0]], changed):
                return None
            await self._log(tx, session_id, move)
            return await tx.fetchone("SELECT * FROM sessions WHERE id = ?", (session_id,))

    async def set(
        self, session_id: str, expected: Sequence[str], values: Mapping[str, object]
    ) -> bool:
        """Set ``values`` while the row is in one of ``expected``; False when it was not."""
        async with self._db.transaction() as tx:
            return await self._set(tx, session_id, expected, values)

    async def add_topup(
        self,
        session_id: str,
        payment_hash: str,
        amount_msat: int,
        payer_pubkey: str | None,
        states: Sequence[str],
    ) -> TopUpOutcome:
        """Add to ``paid_msat`` once per payment hash, while the row is in ``states``."""
        now = self._clock()
        async with self._db.transaction() as tx:
            if await tx.fetchone(
                "SELECT 1 FROM session_topups WHERE payment_hash = ?", (payment_hash,)
            ):
                return "already_applied"
            where = f"id = ? AND state IN ({_marks(states)})"
            changed = await tx.execute(
                f"UPDATE sessions SET paid_msat = paid_msat + ?, updated_at = ? WHERE {where}",  # noqa: S608 -- only placeholders are interpolated
                (amount_msat, now, session_id, *states),
            )
            if not changed:
                return "refused"
            await tx.execute(
                "INSERT INTO session_topups (payment_hash, session_id, amount_msat,"
                " payer_pubkey, created_at) VALUES (?, ?, ?, ?, ?)",
                (payment_hash, session_id, amount_msat, payer_pubkey, now),
            )
        return "applied"

    async def insert_moved(self, values: Mapping[str, object], moves: Sequence[Move]) -> str:
        """A row written straight into the state its ``moves`` lead to, with their log rows,
        in one transaction; idempotent by ``payment_hash``: the id of the row made first."""
        now = self._clock()
        async with self._db.transaction() as tx:
            found = await tx.fetchone(
                "SELECT id FROM sessions WHERE payment_hash = ?", (values["payment_hash"],)
            )
            if found is not None:
                return str(found["id"])
            row = {**values, "state": moves[-1][1], "created_at": now, "updated_at": now}
            await tx.execute(_insert_sql(row), tuple(row.values()))
            for move in moves:
                await self._log(tx, str(values["id"]), move)
        return str(values["id"])

    async def _one(self, where: str, params: Sequence[object]) -> Row | None:
        return await self._db.fetchone(f"SELECT * FROM sessions WHERE {where}", params)  # noqa: S608 -- fixed SQL from this module

    async def _log(self, tx: Transaction, session_id: str, move: Move) -> None:
        await tx.execute(
            "INSERT INTO session_transitions (session_id, from_state, to_state, event, at)"
            " VALUES (?, ?, ?, ?, ?)",
            (session_id, *move, self._clock()),
        )

    async def _set(
        self,
        tx: Transaction,
        session_id: str,
        expected: Sequence[str],
        values: Mapping[str, object],
    ) -> bool:
        # Which columns may change is bot.sessions.records' rule; here only that a name is
        # a plain identifier, since it goes into the SQL text.
        if not all(name.isidentifier() for name in values):
            raise StoreError(f"not column names: {sorted(values)}")
        columns = "".join(f", {name} = ?" for name in values)
        changed = await tx.execute(
            f"UPDATE sessions SET updated_at = ?{columns}"  # noqa: S608 -- column names are identifiers, checked above
            f" WHERE id = ? AND state IN ({_marks(expected)})",
            (self._clock(), *values.values(), session_id, *expected),
        )
        return changed == 1


def _insert_sql(row: Mapping[str, object]) -> str:
    columns = ", ".join(row)
    return f"INSERT INTO sessions ({columns}) VALUES ({_marks(list(row))})"  # noqa: S608 -- column names come from bot.sessions.records


def _marks(values: Sequence[object]) -> str:
    return ", ".join("?" * len(values))
