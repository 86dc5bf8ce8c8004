from __future__ import annotations

import pytest

from bot.errors import IllegalTransition
from bot.notify.machine import TRANSITIONS, Event, State, advance


def test_only_a_waiting_request_moves_and_each_event_ends_it() -> None:
    assert advance(State.WAITING, Event.CONNECTOR_FREE) is State.TOLD
    assert advance(State.WAITING, Event.TIME_UP) is State.GIVEN_UP
    assert advance(State.WAITING, Event.DRIVER_OFF) is State.CANCELLED
    assert all(not TRANSITIONS[s] for s in State if s is not State.WAITING)


@pytest.mark.parametrize("state", [State.TOLD, State.GIVEN_UP, State.CANCELLED])
def test_an_ended_request_is_never_told_again(state: State) -> None:
    with pytest.raises(IllegalTransition):
        advance(state, Event.CONNECTOR_FREE)
