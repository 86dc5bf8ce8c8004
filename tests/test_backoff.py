from __future__ import annotations

import pytest

from bot.backoff import Backoff


def test_backoff_doubles_with_jitter_up_to_a_cap() -> None:
    backoff = Backoff(first_s=0.1, cap_s=1.0, give_up_after_s=5.0)
    assert backoff.delay(0, rng=lambda: 0.0) == pytest.approx(0.05)
    assert backoff.delay(2, rng=lambda: 1.0) == pytest.approx(0.4)
    assert backoff.delay(30, rng=lambda: 1.0) == pytest.approx(1.0)


def test_a_week_of_attempts_stays_at_the_cap() -> None:
    backoff = Backoff(first_s=0.25, cap_s=30.0)
    assert backoff.delay(100_000, rng=lambda: 1.0) == pytest.approx(30.0)
    assert backoff.delay(100_000, rng=lambda: 0.0) == pytest.approx(15.0)
