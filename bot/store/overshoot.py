"""Overshoot per session: Wh a charger delivered beyond the budget, and the msat waived.

Written once when a session settles (``INSERT OR IGNORE``: a settlement repeated after a
restart records nothing twice); read by ``zapcharge audit`` and its totals.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.store.db import Database, Row

__all__ = ["Overshoot", "OvershootStore", "Totals"]


@dataclass(frozen=True)
class Overshoot:
    session_id: str
    charger_id: str
    energy_wh: int
    budget_wh: int
    over_wh: int
    waived_msat: int
    recorded_at: float

    @classmethod
    def from_row(cls, row: Row) -> Overshoot:
        return cls(**{name: row[name] for name in cls.__dataclass_fields__})


@dataclass(frozen=True)
class Totals:
    """The money of every settled session, and what overshoot cost the operator."""

    sessions: int
    paid_msat: int
    consumed_msat: int
    fees_msat: int
    refund_msat: int
    waived_msat: int
    overshoot_sessions: int
    overshoot_wh: int


class OvershootStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def record(self, overshoot: Overshoot) -> None:
        await self._db.execute(
            "INSERT OR IGNORE INTO session_overshoot (session_id, charger_id, energy_wh,"
            " budget_wh, over_wh, waived_msat, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                overshoot.session_id,
                overshoot.charger_id,
                overshoot.energy_wh,
                overshoot.budget_wh,
                overshoot.over_wh,
                overshoot.waived_msat,
                overshoot.recorded_at,
            ),
        )

    async def of(self, session_id: str) -> Overshoot | None:
        row = await self._db.fetchone(
            "SELECT * FROM session_overshoot WHERE session_id = ?", (session_id,)
        )
        return None if row is None else Overshoot.from_row(row)

    async def totals(self) -> Totals:
        """Sums over every session that has settled (its consumption is known)."""
        money = await self._db.fetchone(
            "SELECT COUNT(*) AS n, COALESCE(SUM(paid_msat), 0) AS paid,"
            " COALESCE(SUM(consumed_msat), 0) AS consumed, COALESCE(SUM(fees_msat), 0) AS fees,"
            " COALESCE(SUM(refund_msat), 0) AS refund, COALESCE(SUM(waived_msat), 0) AS waived"
            " FROM sessions WHERE refund_msat IS NOT NULL"
        )
        over = await self._db.fetchone(
            "SELECT COUNT(*) AS n, COALESCE(SUM(over_wh), 0) AS wh FROM session_overshoot"
        )
        assert money is not None and over is not None
        return Totals(
            sessions=money["n"],
            paid_msat=money["paid"],
            consumed_msat=money["consumed"],
            fees_msat=money["fees"],
            refund_msat=money["refund"],
            waived_msat=money["waived"],
            overshoot_sessions=over["n"],
            overshoot_wh=over["wh"],
        )
