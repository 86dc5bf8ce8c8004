"""Wakeups: a session is stepped once per kick burst, and news during a step is not lost."""

from __future__ import annotations

import asyncio

import pytest

from bot.sessions.runtime import Runtime, Wakeups


async def test_kicks_while_queued_count_once() -> None:
    wakeups = Wakeups()
    for _ in range(3):
        wakeups.kick("s-1")
    wakeups.kick("s-2")
    assert await wakeups.take() == "s-1"
    assert await wakeups.take() == "s-2"
    wakeups.done("s-1")
    wakeups.done("s-2")
    with pytest.raises(TimeoutError):  # nothing left: each was stepped once
        await asyncio.wait_for(wakeups.take(), 0.05)


async def test_a_kick_while_stepping_queues_it_again_when_done() -> None:
    wakeups = Wakeups()
    wakeups.kick("s-1")
    assert await wakeups.take() == "s-1"
    wakeups.kick("s-1")  # news while a worker steps it
    wakeups.kick("s-1")
    wakeups.done("s-1")
    assert await asyncio.wait_for(wakeups.take(), 1) == "s-1"
    wakeups.done("s-1")
    wakeups.kick("s-2")
    assert await wakeups.take() == "s-2"  # s-1 was queued again once, not twice


def test_forgetting_a_session_drops_what_this_process_remembered() -> None:
    runtime = Runtime(started_at=0.0)
    runtime.start_sent.add("s-1")
    runtime.soc["s-1"] = 55.0
    runtime.topups["s-1"] = [("ph", 1000)]
    runtime.start_sent.add("s-2")
    runtime.forget("s-1")
    assert runtime.start_sent == {"s-2"}
    assert runtime.soc == {} and runtime.topups == {}
