"""A notice request's life, as one transition table: small, but one lifecycle, one table.

::

    waiting -> told        a connector is free and this driver is first in line
    waiting -> given_up    ``[drivers] notify_max_hours`` passed (the driver is told so)
    waiting -> cancelled   the driver's ``notify off``

Each move is a compare-and-set in the store made *before* the DM is queued, so a restart
never tells a driver twice (a crash in between loses that one DM rather than doubling it).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType

from bot.errors import IllegalTransition

__all__ = ["TRANSITIONS", "Event", "State", "advance"]


class State(enum.StrEnum):
    WAITING = "waiting"
    TOLD = "told"
    GIVEN_UP = "given_up"
    CANCELLED = "cancelled"


class Event(enum.StrEnum):
    CONNECTOR_FREE = "connector_free"
    TIME_UP = "time_up"
    DRIVER_OFF = "driver_off"


TRANSITIONS: Mapping[State, Mapping[Event, State]] = MappingProxyType(
    {
        State.WAITING: MappingProxyType(
            {
                Event.CONNECTOR_FREE: State.TOLD,
                Event.TIME_UP: State.GIVEN_UP,
                Event.DRIVER_OFF: State.CANCELLED,
            }
        ),
        State.TOLD: MappingProxyType({}),
        State.GIVEN_UP: MappingProxyType({}),
        State.CANCELLED: MappingProxyType({}),
    }
)


def advance(state: State, event: Event) -> State:
    try:
        return TRANSITIONS[state][event]
    except KeyError:
        raise IllegalTransition(str(state), event=str(event)) from None
