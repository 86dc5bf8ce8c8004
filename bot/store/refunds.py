"""The refunds repository: claim first, then pay; nothing is ever paid twice.

One ``refunds`` row per session (``UNIQUE(session_id)``) is the claim. Its status::

    offered  --claim_k1-->  pending  --mark_paid-->  paid
      (LNURL-withdraw link     |
       is out; k1 unspent)     +--release (definite failure only)-->  released
                                                                         |
    claim_refund / offer_withdraw take over a released row (or an expired offer) again

``pending`` means a payment may be in flight or its outcome is unknown: it stays pending
until the node says paid or definitely failed. A claim needs the session in the state
that owes a refund (``owing_state``, given by :mod:`bot.sessions.refunding`) with exactly
that ``refund_msat``.

LNURL-withdraw ``k1`` values are bearer secrets: random, bound to this one row, with an
expiry, spent by exactly one :meth:`RefundStore.claim_k1`. They are never logged; the
dataclass hides them from ``repr``.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from bot.errors import SessionError
from bot.store.db import Database, Row, Transaction

__all__ = ["Refund", "RefundMethod", "RefundStatus", "RefundStore"]


class RefundStatus(enum.StrEnum):
    OFFERED = "offered"
    PENDING = "pending"
    PAID = "paid"
    RELEASED = "released"


class RefundMethod(enum.StrEnum):
    LUD16 = "lud16"  # paid to the lightning address in the driver's kind 0 profile
    WITHDRAW = "withdraw"  # an LNURL-withdraw link (DM or session page) the driver redeems


@dataclass(frozen=True)
class Refund:
    id: int
    session_id: str
    amount_msat: int
    method: RefundMethod
    status: RefundStatus
    k1: str | None = field(repr=False)
    k1_expires_at: float | None
    k1_claimed_at: float | None
    bolt11: str | None
    payment_hash: str | None
    error: str | None
    attempts: int
    created_at: float
    updated_at: float

    @classmethod
    def from_row(cls, row: Row) -> Refund:
        values = {name: row[name] for name in cls.__dataclass_fields__}
        values["method"] = RefundMethod(row["method"])
        values["status"] = RefundStatus(row["status"])
        return cls(**values)


class RefundStore:
    def __init__(
        self,
        db: Database,
        *,
        owing_state: str,
        new_k1: Callable[[], str],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._db = db
        self._owing = owing_state
        self._new_k1 = new_k1
        self._clock = clock

    async def get(self, session_id: str) -> Refund | None:
        row = await self._db.fetchone("SELECT * FROM refunds WHERE session_id = ?", (session_id,))
        return Refund.from_row(row) if row else None

    async def claim_refund(
        self, session_id: str, amount_msat: int, method: RefundMethod
    ) -> Refund | None:
        """Take the claim before paying. None when another claim holds it (or it is paid)."""
        return await self._claim(session_id, amount_msat, method, RefundStatus.PENDING, None)

    async def offer_withdraw(
        self, session_id: str, amount_msat: int, lifetime_s: float
    ) -> Refund | None:
        """Claim the refund as an LNURL-withdraw offer with a fresh k1 (in the result).

        Also renews an offer whose k1 expired unspent. None when a live claim holds it."""
        expires_at = self._clock() + lifetime_s
        return await self._claim(
            session_id, amount_msat, RefundMethod.WITHDRAW, RefundStatus.OFFERED, expires_at
        )

    async def withdraw_offer(self, k1: str) -> Refund | None:
        """The live offer behind ``k1`` (LUD-03's first request), or None."""
        row = await self._db.fetchone(
            "SELECT * FROM refunds WHERE k1 = ? AND status = ? AND k1_expires_at > ?",
            (k1, RefundStatus.OFFERED.value, self._clock()),
        )
        return Refund.from_row(row) if row else None

    async def by_k1(self, k1: str) -> Refund | None:
        """The row behind ``k1`` in any state, so a refused callback can say why."""
        row = await self._db.fetchone("SELECT * FROM refunds WHERE k1 = ?", (k1,))
        return Refund.from_row(row) if row else None

    async def claim_k1(
        self, k1: str, amount_msat: int, bolt11: str, payment_hash: str
    ) -> Refund | None:
        """Spend ``k1`` on the driver's invoice for exactly the offered amount, once.

        None when the k1 is unknown, spent, expired, or the amount differs."""
        now = self._clock()
        async with self._db.transaction() as tx:
            changed = await tx.execute(
                "UPDATE refunds SET status = ?, k1_claimed_at = ?, bolt11 = ?, payment_hash = ?,"
                " updated_at = ? WHERE k1 = ? AND status = ? AND k1_expires_at > ?"
                " AND amount_msat = ?",
                (
                    RefundStatus.PENDING.value,
                    now,
                    bolt11,
                    payment_hash,
                    now,
                    k1,
                    RefundStatus.OFFERED.value,
                    now,
                    amount_msat,
                ),
            )
            row = (
                await tx.fetchone("SELECT * FROM refunds WHERE k1 = ?", (k1,)) if changed else None
            )
        return Refund.from_row(row) if row else None

    async def set_invoice(self, session_id: str, bolt11: str, payment_hash: str) -> bool:
        """Record the invoice a pending claim is about to pay, before paying it: after a
        restart the hash is what we ask the node about. Set once."""
        return await self._move(
            session_id,
            RefundStatus.PENDING,
            "bolt11 = ?, payment_hash = ?",
            (bolt11, payment_hash),
            extra="AND payment_hash IS NULL",
        )

    async def mark_paid(self, session_id: str) -> bool:
        return await self._move(session_id, RefundStatus.PAID, "error = NULL", ())

    async def release(self, session_id: str, error: str) -> bool:
        """Give the claim back after a *definite* failure; its k1 dies with it."""
        return await self._move(
            session_id,
            RefundStatus.RELEASED,
            "error = ?, k1 = NULL, k1_expires_at = NULL",
            (error,),
        )

    async def _move(
        self,
        session_id: str,
        status: RefundStatus,
        assignments: str,
        params: tuple[str, ...],
        extra: str = "",
    ) -> bool:
        """pending -> ``status`` (or pending -> pending with ``extra``), with assignments."""
        changed = await self._db.execute(
            f"UPDATE refunds SET status = ?, updated_at = ?, {assignments}"  # noqa: S608 -- fixed SQL from this module
            f" WHERE session_id = ? AND status = ? {extra}",
            (status.value, self._clock(), *params, session_id, RefundStatus.PENDING.value),
        )
        return changed == 1

    async def _claim(
        self,
        session_id: str,
        amount_msat: int,
        method: RefundMethod,
        status: RefundStatus,
        expires_at: float | None,
    ) -> Refund | None:
        now = self._clock()
        k1 = self._new_k1() if status is RefundStatus.OFFERED else None
        async with self._db.transaction() as tx:
            # The INSERT takes a free claim; the UPSERT's WHERE takes over only a released
            # one or an offer that expired unspent. Anything else leaves the row alone.
            changed = await tx.execute(
                "INSERT INTO refunds (session_id, amount_msat, method, status, k1,"
                " k1_expires_at, attempts, created_at, updated_at)"
                " SELECT id, ?, ?, ?, ?, ?, 1, ?, ? FROM sessions"
                " WHERE id = ? AND state = ? AND refund_msat = ?"
                " ON CONFLICT(session_id) DO UPDATE SET method = excluded.method,"
                " status = excluded.status, k1 = excluded.k1,"
                " k1_expires_at = excluded.k1_expires_at, k1_claimed_at = NULL,"
                " bolt11 = NULL, payment_hash = NULL, attempts = refunds.attempts + 1,"
                " updated_at = excluded.updated_at"
                " WHERE refunds.status = ? OR (refunds.status = ? AND refunds.k1_expires_at <= ?)",
                (
                    amount_msat,
                    method.value,
                    status.value,
                    k1,
                    expires_at,
                    now,
                    now,
                    session_id,
                    self._owing,
                    amount_msat,
                    RefundStatus.RELEASED.value,
                    RefundStatus.OFFERED.value,
                    now,
                ),
            )
            if not changed:
                await _check_claimable(tx, session_id, amount_msat, self._owing)
                return None
            row = await tx.fetchone("SELECT * FROM refunds WHERE session_id = ?", (session_id,))
        return Refund.from_row(row) if row else None


async def _check_claimable(
    tx: Transaction, session_id: str, amount_msat: int, owing_state: str
) -> None:
    """Explain a claim that took nothing: a mistake raises, a held claim is normal."""
    row = await tx.fetchone("SELECT state, refund_msat FROM sessions WHERE id = ?", (session_id,))
    if row is None:
        raise SessionError(f"no session {session_id}")
    if row["state"] != owing_state:
        raise SessionError(f"session {session_id} is {row['state']}, not {owing_state}")
    if row["refund_msat"] != amount_msat:
        raise SessionError(
            f"session {session_id} owes {row['refund_msat']} msat, not {amount_msat} msat"
        )
