"""Exponential backoff with jitter, shared by every reconnect loop (Lightning RPC, relays).

Jitter keeps the clients that failed together from retrying together: each delay is
0.5-1.0 of ``first_s * 2**attempt``, and never more than ``cap_s``.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")

__all__ = ["Backoff"]


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with jitter (0.5-1.0 of ``first_s * 2**n``, at most ``cap_s``);
    callers that give up do so once ``give_up_after_s`` has passed."""

    first_s: float = 0.2
    cap_s: float = 5.0
    give_up_after_s: float = 20.0

    def delay(self, attempt: int, rng: Callable[[], float] = random.random) -> float:
        # min() before the power: a relay away for a week must not overflow the float.
        return float(min(self.cap_s, self.first_s * 2 ** min(attempt, 64)) * (0.5 + rng() / 2))

    async def retrying(
        self,
        call: Callable[[], Awaitable[T]],
        *,
        catching: type[Exception],
        retryable: Callable[[BaseException], bool],
        first_failure: Callable[[Exception], None] | None = None,
    ) -> T:
        """``call()`` until it succeeds, waiting ``delay`` between tries. Only failures of
        type ``catching`` are looked at; one that is not ``retryable`` (callers pass
        ``bot.errors.is_retryable``), or one after ``give_up_after_s``, is raised, as is any
        other exception. ``first_failure`` hears of the first retry only."""
        started, attempt = time.monotonic(), 0
        while True:
            try:
                return await call()
            except catching as exc:
                if not retryable(exc) or time.monotonic() - started >= self.give_up_after_s:
                    raise
                if attempt == 0 and first_failure is not None:
                    first_failure(exc)
            await asyncio.sleep(self.delay(attempt))
            attempt += 1
