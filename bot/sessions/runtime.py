"""What this process did or saw of its sessions, and which of them to step next.

Both are lost on restart on purpose: the stored state says what may have happened (see
:mod:`bot.sessions.steps`), :class:`Runtime` only what *this* process already sent, and
:class:`Wakeups` is rebuilt from the unfinished sessions when the service starts.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from bot.sessions.idle import IdleMeter

__all__ = ["Runtime", "Wakeups"]


@dataclass
class Runtime:
    """What this process did or saw; lost on restart on purpose (see the module docstring)."""

    started_at: float
    start_sent: set[str] = field(default_factory=set)
    stop_sent: set[str] = field(default_factory=set)
    interval_set: set[str] = field(default_factory=set)
    online_since: dict[str, float] = field(default_factory=dict)
    offline_since: dict[str, float] = field(default_factory=dict)
    soc: dict[str, float] = field(default_factory=dict)
    retry_at: dict[str, float] = field(default_factory=dict)
    topups: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    orphans: list[tuple[str, int]] = field(default_factory=list)
    idle: IdleMeter = field(default_factory=IdleMeter)
    last_reading_at: dict[str, float] = field(default_factory=dict)  # an energy register came
    power_asked: dict[str, int] = field(default_factory=dict)  # the last cap we sent ...
    power_limit: dict[str, int] = field(default_factory=dict)  # ... and the one accepted

    def forget(self, session_id: str) -> None:
        for group in (self.start_sent, self.stop_sent, self.interval_set):
            group.discard(session_id)
        for table in (self.soc, self.retry_at, self.topups):
            table.pop(session_id, None)
        self.last_reading_at.pop(session_id, None)
        self.power_asked.pop(session_id, None)
        self.power_limit.pop(session_id, None)
        self.idle.forget(session_id)


class Wakeups:
    """Sessions that a worker should step: the inbox kicks, the workers take.

    A session is queued once however often it is kicked meanwhile; one kicked while a
    worker steps it is queued again when that worker is done, so no news is missed."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._queued: set[str] = set()
        self._running: set[str] = set()
        self._again: set[str] = set()

    def kick(self, session_id: str) -> None:
        if session_id in self._running:
            self._again.add(session_id)
        elif session_id not in self._queued:
            self._queued.add(session_id)
            self._queue.put_nowait(session_id)

    async def take(self) -> str:
        session_id = await self._queue.get()
        self._queued.discard(session_id)
        self._running.add(session_id)
        return session_id

    def done(self, session_id: str) -> None:
        self._running.discard(session_id)
        if session_id in self._again:
            self._again.discard(session_id)
            self.kick(session_id)
