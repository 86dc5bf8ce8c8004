"""Exponential backoff with jitter, shared by every reconnect loop (Lightning RPC, relays).

Jitter keeps the clients that failed together from retrying together: each delay is
0.5-1.0 of ``first_s * 2**attempt``, and never more than ``cap_s``.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

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
