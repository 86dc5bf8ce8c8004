"""Sending paced per relay: one token bucket per relay URL.

A relay that receives a burst of thousands of events on one connection may answer with
``rate-limited:`` OKs or drop the connection (public relays limit events per connection
and second; the limits differ per relay and are rarely published). The outbox asks
:meth:`RelayPacer.reserve` before each send, so a burst leaves at ``rate`` events a second
with at most ``burst`` at once; the wait is spent in the outbox's queues, where urgent
events overtake status updates, not in the relay's. Pure logic: the clock is passed in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

__all__ = ["RelayPacer", "TokenBucket"]


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved up; one token per event sent."""

    def __init__(self, rate: float, burst: float, now: float) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a token bucket needs rate > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self._tokens = burst
        self._at = now

    def _refill(self, now: float) -> None:
        if now > self._at:
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
            self._at = now

    def wait_s(self, now: float) -> float:
        """Seconds until a token is there (0.0: one is there now)."""
        self._refill(now)
        return max(0.0, (1.0 - self._tokens) / self.rate)

    def take(self, now: float) -> None:
        self._refill(now)
        self._tokens -= 1.0


class RelayPacer:
    """One bucket per relay URL; relays without their own rate get ``default_rate``."""

    def __init__(
        self,
        rates: Mapping[str, float],
        default_rate: float,
        clock: Callable[[], float],
        burst_s: float = 1.0,
    ) -> None:
        self._rates = dict(rates)
        self._default_rate = default_rate
        self._clock = clock
        self._burst_s = burst_s  # a burst of this many seconds' worth of events
        self._buckets: dict[str, TokenBucket] = {}

    def _bucket(self, url: str, now: float) -> TokenBucket:
        bucket = self._buckets.get(url)
        if bucket is None:
            rate = self._rates.get(url, self._default_rate)
            bucket = self._buckets[url] = TokenBucket(rate, max(1.0, rate * self._burst_s), now)
        return bucket

    def reserve(self, urls: Iterable[str]) -> float:
        """Take a token from every relay in ``urls`` and return 0.0, or take none and return
        the seconds until all of them have one."""
        now = self._clock()
        buckets = [self._bucket(url, now) for url in urls]
        wait = max((b.wait_s(now) for b in buckets), default=0.0)
        if wait == 0.0:
            for bucket in buckets:
                bucket.take(now)
        return wait

    def forget(self, url: str) -> None:
        """A relay the pool dropped (an old extra relay): its bucket goes with it."""
        self._buckets.pop(url, None)
