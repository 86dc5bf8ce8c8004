"""What the LNURL side keeps: zap replays and unclaimed money.

``zap_requests`` makes each zap request single-use; ``unclaimed_payments`` keeps money our
node received that no session accounts for, until the operator refunds it.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from bot.store.db import Database

__all__ = ["LnurlStore", "UnclaimedPayment"]


@dataclass(frozen=True)
class UnclaimedPayment:
    payment_hash: str
    label: str
    amount_msat: int
    paid_at: float | None
    reason: str
    recorded_at: float


class LnurlStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def reserve_zap_request(self, event_id: str, sender_pubkey: str, now: float) -> bool:
        """Take the zap request's id; False when it was taken before (a replay)."""
        try:
            await self.db.execute(
                "INSERT INTO zap_requests (id, sender_pubkey, received_at) VALUES (?, ?, ?)",
                (event_id, sender_pubkey, now),
            )
        except sqlite3.IntegrityError:
            return False
        return True

    async def record_unclaimed(
        self,
        payment_hash: str,
        *,
        label: str,
        amount_msat: int,
        paid_at: float | None,
        reason: str,
        now: float,
    ) -> bool:
        """Keep a payment no session owns; False when it is kept already."""
        changed = await self.db.execute(
            "INSERT INTO unclaimed_payments (payment_hash, label, amount_msat, paid_at, reason,"
            " recorded_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(payment_hash) DO NOTHING",
            (payment_hash, label, amount_msat, paid_at, reason, now),
        )
        return changed > 0

    async def unclaimed(self) -> list[UnclaimedPayment]:
        rows = await self.db.fetchall("SELECT * FROM unclaimed_payments ORDER BY recorded_at")
        return [
            UnclaimedPayment(**{name: row[name] for name in UnclaimedPayment.__dataclass_fields__})
            for row in rows
        ]
