from __future__ import annotations

import logging

import pytest

from bot.log import RoutineLines, charger_log

log = logging.getLogger("tests.routine")


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "tests.routine"]


def test_routine_lines_beyond_the_allowance_are_counted_in_one_summary(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="tests.routine")
    clock = _Clock()
    routine = RoutineLines(log, interval_s=10, per_interval=3, clock=clock)
    for n in range(5):
        routine.info(charger_log(log, f"cp-{n}"), "online", "online")
    routine.info(charger_log(log, "cp-9"), "booted", "booted: %s", "x")
    assert _messages(caplog) == ["[cp-0] online", "[cp-1] online", "[cp-2] online"]
    routine.summary()
    assert _messages(caplog)[3:] == ["not logged one by one: 1 booted, 2 online"]
    routine.summary()  # nothing new: no line
    assert len(_messages(caplog)) == 4


def test_a_new_interval_logs_again_after_summing_up_the_last(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="tests.routine")
    clock = _Clock()
    routine = RoutineLines(log, interval_s=10, per_interval=1, clock=clock)
    routine.info(charger_log(log, "cp-0"), "online", "online")
    routine.info(charger_log(log, "cp-1"), "online", "online")
    clock.now += 10
    routine.info(charger_log(log, "cp-2"), "offline", "offline")
    assert _messages(caplog) == [
        "[cp-0] online",
        "not logged one by one: 1 online",
        "[cp-2] offline",
    ]
