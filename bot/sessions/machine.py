"""The charging session's life, as one transition table.

The main line, then the side exits (self-loops for top-ups and refund retries aside)::

    quoted -> paid -> starting -> charging -> stopping -> settling -> refunding -> closed
    quoted -> expired                                  the invoice was never paid
    paid, starting -> failed_to_start -> refunding     rejected, offline, timeout, early stop
    paid -> failed_to_start                            a payment its session can no longer take
    charging -> settling                               StopTransaction: unplugged, local stop
    settling -> closed                                 nothing to refund

:data:`TRANSITIONS` lists every legal ``(state, event) -> state`` once; :func:`advance`
is the only way to read it and raises :class:`~bot.errors.IllegalTransition` for anything
else. The store persists each transition *before* its side effect runs (RemoteStart,
RemoteStop, a refund payment), so after a crash the stored state says what may already
have happened; :data:`RESUME` says, per state, what the service must (re)do on start-up
without repeating anything. :data:`LATE` lists the events that legitimately arrive after
the session has moved on (a charger re-sending a queued message after a reconnect, a
second ``stop``): they are acknowledged, never applied.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from bot.errors import IllegalTransition

__all__ = [
    "LATE",
    "RESUME",
    "STOP_EVENTS",
    "TERMINAL",
    "TOPUP_STATES",
    "TRANSITIONS",
    "Event",
    "Resume",
    "ResumeAction",
    "State",
    "advance",
    "allowed",
    "is_late",
    "transitions",
]


class State(enum.StrEnum):
    QUOTED = "quoted"  # invoice issued, not paid
    PAID = "paid"  # our node reported the payment; RemoteStart not yet sent
    STARTING = "starting"  # RemoteStart may be on the wire; waiting for StartTransaction
    CHARGING = "charging"  # transaction running; cost accrues from the meter
    STOPPING = "stopping"  # RemoteStop may be on the wire; waiting for StopTransaction
    SETTLING = "settling"  # numbers are final: paid is frozen, consumption known
    REFUNDING = "refunding"  # a remainder is owed to the driver
    CLOSED = "closed"  # everything paid out; nothing more will happen
    FAILED_TO_START = "failed_to_start"  # no energy was delivered: the whole amount goes back
    EXPIRED = "expired"  # the node says the invoice can no longer be paid


class Event(enum.StrEnum):
    INVOICE_PAID = "invoice_paid"
    INVOICE_EXPIRED = "invoice_expired"  # only once the node says so, never on our own clock
    START_REQUESTED = "start_requested"  # persisted, then RemoteStartTransaction is sent
    START_REJECTED = "start_rejected"  # the charger answered Rejected (or a CALLERROR)
    CHARGER_OFFLINE = "charger_offline"  # not connected when the start had to be sent
    START_TIMEOUT = "start_timeout"  # no StartTransaction within start_timeout_s
    TRANSACTION_STARTED = "transaction_started"  # StartTransaction with our idTag
    TOPUP_PAID = "topup_paid"  # a follow-up payment from the payer: more budget
    # A top-up paid after its session stopped taking money: it gets a refund-only session
    # of its own, written straight into failed_to_start (see SessionRecords.open_refund).
    LATE_TOPUP = "late_topup"
    BUDGET_REACHED = "budget_reached"  # the meter passed the stop threshold
    DRIVER_STOP = "driver_stop"  # the payer's DM ``stop``
    PAGE_STOP = "page_stop"  # the stop button behind the session page's token
    CHARGER_FAULT = "charger_fault"  # StatusNotification Faulted on our connector
    DISCONNECT_TIMEOUT = "disconnect_timeout"  # charger gone for longer than allowed
    TRANSACTION_STOPPED = "transaction_stopped"  # StopTransaction: unplugged, local or ours
    STOP_TIMEOUT = "stop_timeout"  # no StopTransaction after RemoteStop: use the last reading
    REFUND_DUE = "refund_due"  # something is owed to the driver
    NOTHING_DUE = "nothing_due"  # the money was used up exactly (or beyond: waived)
    REFUND_FAILED = "refund_failed"  # a definite failure: the claim is released, try again
    REFUND_PAID = "refund_paid"


S, E = State, Event

# Each stop reason is its own event so the stored stop_reason can say which it was.
STOP_EVENTS = frozenset(
    {E.BUDGET_REACHED, E.DRIVER_STOP, E.PAGE_STOP, E.CHARGER_FAULT, E.DISCONNECT_TIMEOUT}
)
# Before energy flows a stop, a refusal or a lost charger all mean the same: full refund.
_NOT_STARTED = {
    E.START_REJECTED: S.FAILED_TO_START,
    E.CHARGER_OFFLINE: S.FAILED_TO_START,
    E.DRIVER_STOP: S.FAILED_TO_START,
    E.PAGE_STOP: S.FAILED_TO_START,
}

_TABLE: dict[State, dict[Event, State]] = {
    S.QUOTED: {E.INVOICE_PAID: S.PAID, E.INVOICE_EXPIRED: S.EXPIRED},
    S.PAID: {
        E.START_REQUESTED: S.STARTING,
        E.TOPUP_PAID: S.PAID,
        E.LATE_TOPUP: S.FAILED_TO_START,
        **_NOT_STARTED,
    },
    S.STARTING: {
        E.TRANSACTION_STARTED: S.CHARGING,
        E.START_TIMEOUT: S.FAILED_TO_START,
        E.TOPUP_PAID: S.STARTING,
        **_NOT_STARTED,
    },
    S.CHARGING: {
        **dict.fromkeys(sorted(STOP_EVENTS), S.STOPPING),
        E.TRANSACTION_STOPPED: S.SETTLING,  # car unplugged or stopped at the charger
        E.TOPUP_PAID: S.CHARGING,  # budget grows, the transaction goes on
    },
    S.STOPPING: {
        E.TRANSACTION_STOPPED: S.SETTLING,
        E.STOP_TIMEOUT: S.SETTLING,
        # Money paid before the numbers are frozen joins the remainder that goes back.
        E.TOPUP_PAID: S.STOPPING,
    },
    S.SETTLING: {E.REFUND_DUE: S.REFUNDING, E.NOTHING_DUE: S.CLOSED},
    S.FAILED_TO_START: {E.REFUND_DUE: S.REFUNDING},
    S.REFUNDING: {E.REFUND_PAID: S.CLOSED, E.REFUND_FAILED: S.REFUNDING},
    S.CLOSED: {},
    S.EXPIRED: {},
}

TRANSITIONS: Mapping[State, Mapping[Event, State]] = MappingProxyType(
    {state: MappingProxyType(events) for state, events in _TABLE.items()}
)

TERMINAL = frozenset(state for state, events in _TABLE.items() if not events)
# A top-up is a self-loop; from settling on, paid_msat is frozen, so a late top-up is not
# "ignored" but illegal: the caller must refund that payment on its own.
TOPUP_STATES = frozenset(state for state, events in _TABLE.items() if E.TOPUP_PAID in events)

_AFTER_PAID = frozenset(S) - {S.QUOTED, S.EXPIRED}
_ENDED = frozenset({S.SETTLING, S.REFUNDING, S.CLOSED})

# Events that arrive after the session has moved past them. Acknowledge (answer the
# charger, reply to the driver), but change nothing.
LATE: Mapping[tuple[State, Event], str] = MappingProxyType(
    {
        **{
            (state, E.INVOICE_PAID): "payment notifications are replayed after a restart"
            for state in _AFTER_PAID
        },
        (S.EXPIRED, E.INVOICE_EXPIRED): "expiry seen twice",
        (S.CHARGING, E.TRANSACTION_STARTED): (
            "the charger re-sent StartTransaction because our answer was lost: "
            "answer with the same transactionId"
        ),
        **{
            (state, E.TRANSACTION_STARTED): (
                "StartTransaction after we gave up on the start: answer idTagInfo Invalid "
                "and send RemoteStopTransaction; the driver's refund is unaffected"
            )
            for state in (S.FAILED_TO_START, S.REFUNDING, S.CLOSED)
        },
        **{
            (state, E.TRANSACTION_STOPPED): (
                "queued StopTransaction delivered after a reconnect or a stop timeout: "
                "log its meter values, the settlement stands"
            )
            for state in _ENDED
        },
        **{
            (state, event): "already stopping or stopped: tell the driver so"
            for state in (S.STOPPING, *_ENDED, S.FAILED_TO_START)
            for event in STOP_EVENTS
        },
    }
)


class ResumeAction(enum.StrEnum):
    WATCH_INVOICE = "watch_invoice"
    REQUEST_START = "request_start"
    CONFIRM_START = "confirm_start"
    WATCH_METER = "watch_meter"
    RESEND_STOP = "resend_stop"
    SETTLE = "settle"
    REFUND = "refund"
    NOTHING = "nothing"


@dataclass(frozen=True)
class Resume:
    action: ResumeAction
    how: str  # the idempotent recipe, for the orchestration and for the reader


A = ResumeAction
RESUME: Mapping[State, Resume] = MappingProxyType(
    {
        S.QUOTED: Resume(
            A.WATCH_INVOICE,
            "ask the node for the invoice: paid -> invoice_paid, expired -> invoice_expired, "
            "unpaid -> keep waiting",
        ),
        S.PAID: Resume(
            A.REQUEST_START,
            "starting was never persisted, so RemoteStart was never sent: apply "
            "start_requested (or charger_offline), then send it",
        ),
        S.STARTING: Resume(
            A.CONFIRM_START,
            "RemoteStart may have gone out: never resend blindly. Wait for the charger to "
            "reconnect and flush its queued StartTransaction; if start_accepted_at is set "
            "only wait for start_deadline. Otherwise TriggerMessage StatusNotification: "
            "Preparing/Charging/Suspended* -> the start was accepted, wait; Available -> "
            "resend RemoteStart with the same idTag. Past start_deadline -> start_timeout",
        ),
        S.CHARGING: Resume(
            A.WATCH_METER,
            "set MeterValueSampleInterval again, recompute the stop threshold from paid_msat "
            "and the stored energy, re-arm progress and disconnect timers; a StopTransaction "
            "queued by the charger may arrive first",
        ),
        S.STOPPING: Resume(
            A.RESEND_STOP,
            "send RemoteStopTransaction again (a second one for an ended transaction is only "
            "Rejected) and re-arm stop_timeout from stop_requested_at",
        ),
        S.SETTLING: Resume(
            A.SETTLE,
            "settle again from the stored numbers (pure, same result), then apply "
            "refund_due or nothing_due with the settlement's fields",
        ),
        S.FAILED_TO_START: Resume(A.SETTLE, "apply refund_due with refund_msat = paid_msat"),
        S.REFUNDING: Resume(
            A.REFUND,
            "by the refund row: none or released -> claim and pay; pending with a "
            "payment_hash -> ask the node, never pay another invoice; pending without one -> "
            "nothing was paid yet, fetch an invoice; offered -> the withdraw link stands "
            "(renew it when expired); paid -> apply refund_paid",
        ),
        S.CLOSED: Resume(A.NOTHING, "done"),
        S.EXPIRED: Resume(A.NOTHING, "done"),
    }
)


def advance(state: State, event: Event) -> State:
    """The state after ``event``; raises IllegalTransition if the table has no such row."""
    try:
        return _TABLE[state][event]
    except KeyError:
        raise IllegalTransition(str(state), event=str(event)) from None


def allowed(current: State, new: State) -> bool:
    """True when some event leads from ``current`` to ``new``."""
    return new in _TABLE[current].values()


def is_late(state: State, event: Event) -> bool:
    return (state, event) in LATE


def transitions() -> Iterator[tuple[State, Event, State]]:
    """Every legal transition, once."""
    for state, events in _TABLE.items():
        for event, target in events.items():
            yield state, event, target
