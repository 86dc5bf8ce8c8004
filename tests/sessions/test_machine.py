from __future__ import annotations

import itertools
from collections import Counter

import pytest

from bot.errors import IllegalTransition, SessionError
from bot.sessions.machine import (
    LATE,
    RESUME,
    STOP_EVENTS,
    TERMINAL,
    TOPUP_STATES,
    TRANSITIONS,
    Event,
    ResumeAction,
    State,
    advance,
    allowed,
    is_late,
    transitions,
)

# Written out by hand from design.md section 2 and issue 7, independently of the table:
# if either changes, this test says so.
EXPECTED = {
    ("quoted", "invoice_paid", "paid"),
    ("quoted", "invoice_expired", "expired"),
    ("paid", "start_requested", "starting"),
    ("paid", "topup_paid", "paid"),
    ("paid", "start_rejected", "failed_to_start"),
    ("paid", "charger_offline", "failed_to_start"),
    ("paid", "driver_stop", "failed_to_start"),
    ("paid", "page_stop", "failed_to_start"),
    ("paid", "operator_stop", "failed_to_start"),
    ("starting", "transaction_started", "charging"),
    ("starting", "start_timeout", "failed_to_start"),
    ("starting", "start_rejected", "failed_to_start"),
    ("starting", "charger_offline", "failed_to_start"),
    ("starting", "driver_stop", "failed_to_start"),
    ("starting", "page_stop", "failed_to_start"),
    ("starting", "operator_stop", "failed_to_start"),
    ("starting", "topup_paid", "starting"),
    ("charging", "budget_reached", "stopping"),
    ("charging", "driver_stop", "stopping"),
    ("charging", "page_stop", "stopping"),
    ("charging", "operator_stop", "stopping"),
    ("charging", "charger_fault", "stopping"),
    ("charging", "disconnect_timeout", "stopping"),
    ("charging", "transaction_stopped", "settling"),
    ("charging", "topup_paid", "charging"),
    ("stopping", "transaction_stopped", "settling"),
    ("stopping", "stop_timeout", "settling"),
    ("stopping", "topup_paid", "stopping"),
    ("settling", "refund_due", "refunding"),
    ("settling", "nothing_due", "closed"),
    ("failed_to_start", "refund_due", "refunding"),
    ("refunding", "refund_paid", "closed"),
    ("refunding", "refund_failed", "refunding"),
    ("paid", "late_topup", "failed_to_start"),
}
ALL_PAIRS = list(itertools.product(State, Event))


def test_the_table_is_exactly_the_expected_list() -> None:
    listed = [(str(s), str(e), str(t)) for s, e, t in transitions()]
    assert Counter(listed).most_common(1)[0][1] == 1, "a transition is listed twice"
    assert set(listed) == EXPECTED
    assert set(TRANSITIONS) == set(State)


@pytest.mark.parametrize(("state", "event", "target"), sorted(EXPECTED))
def test_every_legal_transition(state: str, event: str, target: str) -> None:
    assert advance(State(state), Event(event)) == State(target)
    assert allowed(State(state), State(target))


@pytest.mark.parametrize(
    ("state", "event"),
    [(s, e) for s, e in ALL_PAIRS if not any(x[:2] == (s, e) for x in EXPECTED)],
)
def test_every_illegal_transition_raises(state: State, event: Event) -> None:
    with pytest.raises(IllegalTransition) as info:
        advance(state, event)
    assert isinstance(info.value, SessionError)
    assert (info.value.current, info.value.event) == (state, event)
    assert str(state) in str(info.value) and str(event) in str(info.value)


def test_allowed_matches_the_table() -> None:
    pairs = {(s, t) for s, _, t in EXPECTED}
    for current, new in itertools.product(State, State):
        assert allowed(current, new) == ((str(current), str(new)) in pairs)


def test_terminal_states_and_topups() -> None:
    assert {State.CLOSED, State.EXPIRED} == TERMINAL
    assert {State.PAID, State.STARTING, State.CHARGING, State.STOPPING} == TOPUP_STATES
    for state in TOPUP_STATES:
        assert advance(state, Event.TOPUP_PAID) == state  # a top-up never moves the state
    for state in set(State) - TOPUP_STATES:
        with pytest.raises(IllegalTransition):  # a late top-up must be refunded on its own
            advance(state, Event.TOPUP_PAID)


def test_every_state_is_reachable_and_every_paid_session_can_close() -> None:
    reachable, frontier = {State.QUOTED}, [State.QUOTED]
    while frontier:
        for target in TRANSITIONS[frontier.pop()].values():
            if target not in reachable:
                reachable.add(target)
                frontier.append(target)
    assert reachable == set(State)
    for state in set(State) - {State.QUOTED, State.EXPIRED}:
        seen, todo = {state}, [state]
        while todo:
            for target in TRANSITIONS[todo.pop()].values():
                if target not in seen:
                    seen.add(target)
                    todo.append(target)
        assert State.CLOSED in seen, f"money paid in {state} could never be settled"


def test_every_charging_stop_reason_leads_to_stopping() -> None:
    for event in STOP_EVENTS:
        assert advance(State.CHARGING, event) == State.STOPPING


def test_late_events_are_never_transitions() -> None:
    for state, event in LATE:
        assert event not in TRANSITIONS[state]
        assert is_late(state, event)
    assert not is_late(State.CHARGING, Event.BUDGET_REACHED)


def test_late_events_cover_what_chargers_and_drivers_repeat() -> None:
    assert is_late(State.CHARGING, Event.TRANSACTION_STARTED)  # lost StartTransaction.conf
    assert is_late(State.SETTLING, Event.TRANSACTION_STOPPED)  # after a stop timeout
    assert is_late(State.CLOSED, Event.TRANSACTION_STOPPED)
    assert is_late(State.FAILED_TO_START, Event.TRANSACTION_STARTED)  # start after timeout
    assert is_late(State.STOPPING, Event.DRIVER_STOP)  # double stop
    assert is_late(State.CHARGING, Event.INVOICE_PAID)  # replayed payment notification


def test_a_payment_after_expiry_is_never_silently_ignored() -> None:
    assert not is_late(State.EXPIRED, Event.INVOICE_PAID)
    with pytest.raises(IllegalTransition):
        advance(State.EXPIRED, Event.INVOICE_PAID)


def test_every_state_says_how_to_resume() -> None:
    assert set(RESUME) == set(State)
    for state in State:
        assert RESUME[state].how
        assert (RESUME[state].action is ResumeAction.NOTHING) == (state in TERMINAL)
    # The two states where a command may already be on the wire never resend blindly.
    assert RESUME[State.STARTING].action is ResumeAction.CONFIRM_START
    assert RESUME[State.PAID].action is ResumeAction.REQUEST_START
    assert RESUME[State.REFUNDING].action is ResumeAction.REFUND


def test_illegal_transition_keeps_its_old_two_argument_form() -> None:
    error = IllegalTransition("quoted", "charging")
    assert (error.current, error.target, error.event) == ("quoted", "charging", None)
    assert str(error) == "illegal session transition quoted -> charging"
