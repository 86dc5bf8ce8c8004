from __future__ import annotations

import pytest

from bot.errors import IllegalTransition
from bot.reservations.machine import (
    ACTIVE,
    HOLDING,
    RESUME,
    TERMINAL,
    Event,
    State,
    advance,
    cancel_refund,
    transitions,
)


def test_every_state_has_a_resume_recipe_and_terminal_states_lead_nowhere() -> None:
    assert set(RESUME) == set(State)
    assert {
        State.CREDITED,
        State.EXPIRED,
        State.REFUNDED,
        State.CANCELLED,
        State.UNPAID,
    } == TERMINAL
    assert all(old not in TERMINAL for old, _, _ in transitions())
    assert {State.PAID, State.RESERVING, State.RESERVED} == HOLDING
    assert {State.PAID, State.RESERVING, State.RESERVED, State.USED, State.REFUNDING} == ACTIVE


def test_every_paid_state_can_reach_an_end_where_the_fee_is_accounted_for() -> None:
    ends = {State.CREDITED, State.EXPIRED, State.REFUNDED, State.CANCELLED}
    reach: dict[State, set[State]] = {
        s: {new for old, _, new in transitions() if old is s} for s in State
    }
    for state in ACTIVE:
        seen, todo = set(), [state]
        while todo:
            current = todo.pop()
            seen.add(current)
            todo.extend(reach[current] - seen)
        assert seen & ends, state


def test_main_lines() -> None:
    assert advance(State.QUOTED, Event.INVOICE_PAID) is State.PAID
    assert advance(State.PAID, Event.RESERVE_REQUESTED) is State.RESERVING
    assert advance(State.RESERVING, Event.ACCEPTED) is State.RESERVED
    assert advance(State.RESERVED, Event.SESSION_PAID) is State.USED
    assert advance(State.USED, Event.CREDIT_APPLIED) is State.CREDITED
    assert advance(State.RESERVED, Event.TIME_UP) is State.EXPIRED
    for event in (Event.DRIVER_CANCEL, Event.CHARGER_OFFLINE, Event.CHARGER_FAULT):
        assert advance(State.RESERVED, event) is State.REFUNDING
    assert advance(State.RESERVING, Event.REFUSED) is State.REFUNDING
    assert advance(State.USED, Event.CREDIT_REFUSED) is State.REFUNDING
    assert advance(State.REFUNDING, Event.REFUND_OPENED) is State.REFUNDED
    assert advance(State.REFUNDING, Event.NOTHING_DUE) is State.CANCELLED


@pytest.mark.parametrize(
    ("state", "event"),
    [
        (State.QUOTED, Event.ACCEPTED),  # no ReserveNow before the fee is paid
        (State.EXPIRED, Event.SESSION_PAID),  # too late: the fee is kept
        (State.RESERVING, Event.DRIVER_CANCEL),  # wait for the charger's answer first
        (State.CREDITED, Event.DRIVER_CANCEL),
        (State.REFUNDED, Event.REFUND_OPENED),  # never a second refund
    ],
)
def test_illegal_moves_raise(state: State, event: Event) -> None:
    with pytest.raises(IllegalTransition):
        advance(state, event)


@pytest.mark.parametrize(
    ("now", "refund"),
    [
        (1000.0, 300_000),  # at once: all of it
        (1150.0, 225_000),  # a quarter of the 600 s used
        (1450.0, 75_000),
        (1599.0, 500),  # one second left: 300000 * 1 / 600
        (1600.0, 0),  # at the end: nothing
        (1700.0, 0),
        (900.0, 300_000),  # a clock that stepped back gives no more than the fee
    ],
)
def test_cancel_gives_back_the_share_of_time_not_used(now: float, refund: int) -> None:
    assert cancel_refund(300_000, 1000.0, 1600.0, now) == refund


def test_cancel_refund_rounds_down() -> None:
    assert cancel_refund(1000, 0.0, 3.0, 1.0) == 666
