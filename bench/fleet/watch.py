"""What arrives on the relay: a plain websocket REQ, parsed by hand, timed on arrival.

The relay sends every event it accepts to matching open subscriptions, so the arrival time
here is when the relay took the event (plus a loopback hop, well under a millisecond).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from websockets.asyncio.client import connect

__all__ = ["RelayWatch", "StatusSeen"]

KIND_STATUS = 33600
PRESENCE_KINDS = (0, 10002, 10050, 33000)


@dataclass(frozen=True)
class StatusSeen:
    at: float  # time.time() on arrival
    created_at: int
    status: str  # connector 1's


@dataclass
class RelayWatch:
    url: str
    pubkeys: dict[str, int]  # pubkey hex -> charger number
    statuses: dict[int, list[StatusSeen]] = field(default_factory=dict)
    presence: Counter[int] = field(default_factory=Counter)
    ready: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        async with connect(self.url, max_size=None, compression=None) as ws:
            kinds = [KIND_STATUS, *PRESENCE_KINDS]
            since = int(time.time()) - 5
            await ws.send(json.dumps(["REQ", "watch", {"kinds": kinds, "since": since}]))
            async for message in ws:
                item = json.loads(message)
                if item[0] == "EOSE":
                    self.ready.set()
                elif item[0] == "EVENT":
                    self._event(item[2])

    def _event(self, event: dict[str, object]) -> None:
        kind = event["kind"]
        number = self.pubkeys.get(str(event["pubkey"]))
        if number is None:
            return
        if kind != KIND_STATUS:
            assert isinstance(kind, int)
            self.presence[kind] += 1
            return
        tags = event["tags"]
        assert isinstance(tags, list)
        status = next((t[2] for t in tags if t[0] == "connector" and t[1] == "1"), "?")
        created = event["created_at"]
        assert isinstance(created, int)
        self.statuses.setdefault(number, []).append(StatusSeen(time.time(), created, status))

    def latest(self, number: int) -> StatusSeen | None:
        seen = self.statuses.get(number)
        return max(seen, key=lambda s: s.created_at) if seen else None

    def presence_total(self) -> int:
        return sum(self.presence.values())

    async def until(self, probe: Callable[[], bool], limit_s: float) -> bool:
        """Poll ``probe()`` every 0.2 s until true or ``limit_s`` passed."""
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            if probe():
                return True
            await asyncio.sleep(0.2)
        return False


@contextlib.asynccontextmanager
async def watching(url: str, pubkeys: dict[str, int]) -> AsyncIterator[RelayWatch]:
    watch = RelayWatch(url, pubkeys)
    task = asyncio.create_task(watch.run())
    try:
        await asyncio.wait_for(watch.ready.wait(), 10)
        yield watch
    finally:
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
