"""The refund operations the session layer needs, as a protocol.

``bot.lnurl.refunds.Refunds`` fills it (claim first, then pay; one refund row per
session). The session layer only decides *which* way to refund and *when* to try again;
how a payment is claimed, paid and checked lives there.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from bot.sessions.ids import SessionIds
from bot.sessions.machine import State
from bot.store.db import Database
from bot.store.refunds import RefundStatus, RefundStore

__all__ = ["RefundDesk", "RefundOutcome", "RefundRetry", "WithdrawLinkView", "refund_rows"]


def refund_rows(
    db: Database, *, clock: Callable[[], float] = time.time, ids: SessionIds | None = None
) -> RefundStore:
    """The refund rows, claimable while a session is ``refunding``, with our k1s."""
    return RefundStore(
        db, owing_state=State.REFUNDING.value, new_k1=(ids or SessionIds()).k1, clock=clock
    )


class RefundOutcome(Protocol):
    @property
    def status(self) -> RefundStatus: ...

    @property
    def detail(self) -> str: ...


class WithdrawLinkView(Protocol):
    @property
    def lnurl(self) -> str: ...

    @property
    def uri(self) -> str: ...

    @property
    def amount_msat(self) -> int: ...


class RefundDesk(Protocol):
    async def withdraw_link(self, session_id: str, amount_msat: int) -> WithdrawLinkView | None:
        """The session's live LNURL-withdraw link (the same one when asked again)."""
        ...

    async def pay_lightning_address(
        self, session_id: str, amount_msat: int, address: str
    ) -> RefundOutcome: ...

    async def check_pending(self, session_id: str) -> RefundOutcome: ...


class RefundRetry:
    """Backoff between refund attempts: ``base`` doubling up to ``cap`` seconds."""

    def __init__(self, base_s: float = 2.0, cap_s: float = 300.0) -> None:
        self.base_s = base_s
        self.cap_s = cap_s

    def delay(self, attempt: int) -> float:
        return float(min(self.cap_s, self.base_s * 2 ** max(0, attempt - 1)))
