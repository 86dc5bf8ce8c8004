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


async def test_retrying_tries_again_only_what_is_worth_it() -> None:
    quick = Backoff(first_s=0.0, cap_s=0.0, give_up_after_s=60.0)
    attempts: list[int] = []
    first: list[Exception] = []

    async def flaky() -> str:
        attempts.append(len(attempts))
        if len(attempts) < 3:
            raise ConnectionError("down")
        return "up"

    answer = await quick.retrying(
        flaky,
        catching=OSError,
        retryable=lambda exc: isinstance(exc, ConnectionError),
        first_failure=first.append,
    )
    assert answer == "up" and len(attempts) == 3 and len(first) == 1

    async def refused() -> str:
        attempts.append(len(attempts))
        raise PermissionError("no")

    with pytest.raises(PermissionError):  # caught, but not worth trying again
        await quick.retrying(refused, catching=OSError, retryable=lambda e: False)
    with pytest.raises(KeyError):  # not of the type looked at
        await quick.retrying(lambda: _raise(KeyError("x")), catching=OSError, retryable=bool)
    gone = Backoff(first_s=0.0, cap_s=0.0, give_up_after_s=0.0)
    with pytest.raises(ConnectionError):  # given up at once
        await gone.retrying(
            lambda: _raise(ConnectionError("down")), catching=OSError, retryable=bool
        )


async def _raise(error: Exception) -> str:
    raise error
