"""Rows of ``notify_requests`` and their compare-and-set moves; states are plain strings
(the caller checks each move against :mod:`bot.notify.machine`). The id is the fair order:
first asked, first told."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass

from bot.store.db import Database, Row

__all__ = ["NoticeRequest", "NotifyStore"]


@dataclass(frozen=True)
class NoticeRequest:
    id: int
    charger_id: str
    driver_pubkey: str
    state: str
    created_at: float
    expires_at: float
    ended_at: float | None

    @classmethod
    def from_row(cls, row: Row) -> NoticeRequest:
        return cls(**{name: row[name] for name in cls.__dataclass_fields__})


WAITING = "waiting"  # the one state the partial UNIQUE index of 0071_notify.sql names
TOLD = "told"


class NotifyStore:
    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    async def add(self, charger_id: str, driver_pubkey: str, expires_at: float) -> bool:
        """A new waiting request; False when this driver already waits for this charger
        (the partial UNIQUE index decides, so two DMs at once make one row)."""
        try:
            await self._db.insert(
                "INSERT INTO notify_requests (charger_id, driver_pubkey, state, created_at,"
                " expires_at) VALUES (?, ?, ?, ?, ?)",
                (charger_id, driver_pubkey, WAITING, self._clock(), expires_at),
            )
        except sqlite3.IntegrityError:
            return False
        return True

    async def waiting(self, charger_id: str | None = None) -> list[NoticeRequest]:
        """Waiting requests, first asked first."""
        if charger_id is None:
            rows = await self._db.fetchall(
                "SELECT * FROM notify_requests WHERE state = ? ORDER BY id",
                (WAITING,),
            )
        else:
            rows = await self._db.fetchall(
                "SELECT * FROM notify_requests WHERE state = ? AND charger_id = ? ORDER BY id",
                (WAITING, charger_id),
            )
        return [NoticeRequest.from_row(row) for row in rows]

    async def waiting_of(self, driver_pubkey: str) -> list[NoticeRequest]:
        rows = await self._db.fetchall(
            "SELECT * FROM notify_requests WHERE state = ? AND driver_pubkey = ? ORDER BY id",
            (WAITING, driver_pubkey),
        )
        return [NoticeRequest.from_row(row) for row in rows]

    async def last_told_at(self, charger_id: str) -> float | None:
        row = await self._db.fetchone(
            "SELECT MAX(ended_at) AS at FROM notify_requests WHERE charger_id = ? AND state = ?",
            (charger_id, TOLD),
        )
        return None if row is None or row["at"] is None else float(row["at"])

    async def move(self, request_id: int, expected: str, new: str) -> bool:
        """``expected`` -> ``new``; True for the one caller that moved it."""
        changed = await self._db.execute(
            "UPDATE notify_requests SET state = ?, ended_at = ? WHERE id = ? AND state = ?",
            (new, self._clock(), request_id, expected),
        )
        return changed == 1

    async def all_of(self, driver_pubkey: str) -> list[NoticeRequest]:
        rows = await self._db.fetchall(
            "SELECT * FROM notify_requests WHERE driver_pubkey = ? ORDER BY id", (driver_pubkey,)
        )
        return [NoticeRequest.from_row(row) for row in rows]
