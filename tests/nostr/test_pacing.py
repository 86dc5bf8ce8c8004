from __future__ import annotations

import pytest

from bot.nostr.pacing import RelayPacer, TokenBucket


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_lets_a_burst_through_then_paces_at_its_rate() -> None:
    clock = FakeClock()
    pacer = RelayPacer({"ws://a": 10}, 1, clock)
    sent = 0
    # Try to send every millisecond for 10 s: 10 at once, then 10 a second.
    for tick in range(10_000):
        clock.now = tick / 1000
        if pacer.reserve(["ws://a"]) == 0.0:
            sent += 1
    assert sent == 10 + 100 - 1  # the token of the very last millisecond is not there yet


def test_the_wait_says_when_the_next_token_is_there() -> None:
    bucket = TokenBucket(rate=4, burst=2, now=0.0)
    bucket.take(0.0)
    bucket.take(0.0)
    assert bucket.wait_s(0.0) == pytest.approx(0.25)
    assert bucket.wait_s(0.125) == pytest.approx(0.125)
    assert bucket.wait_s(0.25) == 0.0
    # Saved tokens never exceed the burst, however long the bucket was idle.
    assert bucket.wait_s(3600.0) == 0.0
    for _ in range(2):
        bucket.take(3600.0)
    assert bucket.wait_s(3600.0) == pytest.approx(0.25)


def test_a_send_to_several_relays_takes_a_token_from_each_or_from_none() -> None:
    clock = FakeClock()
    pacer = RelayPacer({"ws://fast": 100, "ws://slow": 1}, 1, clock)
    assert pacer.reserve(["ws://fast", "ws://slow"]) == 0.0
    assert pacer.reserve(["ws://fast", "ws://slow"]) == pytest.approx(1.0)  # slow is empty
    # The refused send took nothing from the fast relay: it still has 99 of its 100.
    assert sum(pacer.reserve(["ws://fast"]) == 0.0 for _ in range(100)) == 99


def test_relays_without_their_own_rate_get_the_default() -> None:
    clock = FakeClock()
    pacer = RelayPacer({}, 2, clock)
    assert [pacer.reserve(["ws://extra"]) for _ in range(3)] == [0.0, 0.0, pytest.approx(0.5)]
    pacer.forget("ws://extra")
    assert pacer.reserve(["ws://extra"]) == 0.0  # a relay added again starts full


def test_a_bucket_refuses_a_rate_that_cannot_pace() -> None:
    with pytest.raises(ValueError, match="rate"):
        TokenBucket(rate=0, burst=1, now=0.0)
