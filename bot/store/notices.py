"""Driver notices sent per session: claimed once, so a restart repeats none of them.

A notice (``started``, ``receipt``, ``refund_link``, ``refund_done``, ...) is claimed with an
``INSERT OR IGNORE`` before its DM goes to the outbox; only the caller whose insert took the
row sends it. A crash between the claim and the outbox loses that one message rather than
sending it twice: the receipt is also on the session page.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from bot.store.db import Database

__all__ = ["NoticeStore"]


class NoticeStore:
    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    async def claim(self, session_id: str, notice: str) -> bool:
        """True for the one caller that may send ``notice`` for this session."""
        changed = await self._db.execute(
            "INSERT OR IGNORE INTO session_notices (session_id, notice, at) VALUES (?, ?, ?)",
            (session_id, notice, self._clock()),
        )
        return changed == 1

    async def sent(self, session_id: str) -> set[str]:
        rows = await self._db.fetchall(
            "SELECT notice FROM session_notices WHERE session_id = ?", (session_id,)
        )
        return {str(row["notice"]) for row in rows}
