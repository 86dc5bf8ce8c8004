"""A reservation's life, as one transition table (the neighbour of bot/sessions/machine.py).

A driver zaps ``reserve`` (or pays ``?reserve=1``): the fee buys ``reservation_minutes`` on
one connector. The main lines::

    quoted -> paid -> reserving -> reserved -> used -> credited     the driver charged
                                   reserved -> expired              time ran out: fee kept
                                   reserved -> refunding -> refunded / cancelled
    quoted -> unpaid                                                 invoice never paid
    paid, reserving -> refunding                                     refused or offline

Where the fee goes (every paid msat ends in exactly one of these):

- ``expired``: kept whole by the operator.
- ``credited``: counted toward the driver's charging session (a top-up of it, by the fee
  invoice's payment hash, so it is counted once); that session refunds what is not used.
- ``refunded``: ``refund_msat`` goes back through a refund-only session (idempotent by the
  fee invoice's payment hash), the rest (``kept_msat``) is kept. Refused ReserveNow, a charger
  offline or faulted: all of it goes back. The driver's ``cancel``: the share of the time not
  used, rounded down (:func:`cancel_refund`); nothing left to give back ends ``cancelled``.

Each transition is persisted before its side effect (ReserveNow, CancelReservation, the
top-up, the refund), so the stored state says what may already have happened; :data:`RESUME`
says what a restarted service (re)does. ``release_pending`` is not a state: it marks a
reservation that ended while the charger may still hold it, so CancelReservation is sent
(again) once the charger is online.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from types import MappingProxyType

from bot.errors import IllegalTransition

__all__ = [
    "ACTIVE",
    "HOLDING",
    "RESUME",
    "TERMINAL",
    "Event",
    "State",
    "advance",
    "cancel_refund",
    "transitions",
]


class State(enum.StrEnum):
    QUOTED = "quoted"  # fee invoice issued, not paid
    PAID = "paid"  # our node reported the fee; ReserveNow not yet sent
    RESERVING = "reserving"  # ReserveNow may be on the wire
    RESERVED = "reserved"  # the charger holds the connector for the driver's idTag
    USED = "used"  # the driver's charging session is paid: the fee joins it
    CREDITED = "credited"  # the fee is part of that session's money
    EXPIRED = "expired"  # the time ran out unused: the fee is kept
    REFUNDING = "refunding"  # refund_msat is owed to the driver
    REFUNDED = "refunded"  # a refund-only session pays it back
    CANCELLED = "cancelled"  # cancelled with nothing left to give back
    UNPAID = "unpaid"  # the node says the fee invoice expired


class Event(enum.StrEnum):
    INVOICE_PAID = "invoice_paid"
    INVOICE_EXPIRED = "invoice_expired"
    RESERVE_REQUESTED = "reserve_requested"  # persisted, then ReserveNow is sent
    ACCEPTED = "accepted"  # ReserveNow answered Accepted
    REFUSED = "refused"  # Faulted / Occupied / Rejected / Unavailable, or the connector is taken
    CHARGER_OFFLINE = "charger_offline"  # not connected (for longer than the grace)
    CHARGER_FAULT = "charger_fault"  # StatusNotification Faulted on the reserved connector
    TIME_UP = "time_up"
    DRIVER_CANCEL = "driver_cancel"  # DM "cancel" or the page's cancel button
    SESSION_PAID = "session_paid"  # the driver's session with the reservation's idTag is paid
    CREDIT_APPLIED = "credit_applied"
    CREDIT_REFUSED = "credit_refused"  # that session took no more money: refund the fee
    REFUND_OPENED = "refund_opened"
    NOTHING_DUE = "nothing_due"


S, E = State, Event

_LOST = {E.REFUSED: S.REFUNDING, E.CHARGER_OFFLINE: S.REFUNDING}

_TABLE: dict[State, dict[Event, State]] = {
    S.QUOTED: {E.INVOICE_PAID: S.PAID, E.INVOICE_EXPIRED: S.UNPAID},
    S.PAID: {E.RESERVE_REQUESTED: S.RESERVING, **_LOST},
    S.RESERVING: {E.ACCEPTED: S.RESERVED, **_LOST},
    S.RESERVED: {
        E.SESSION_PAID: S.USED,
        E.TIME_UP: S.EXPIRED,
        E.DRIVER_CANCEL: S.REFUNDING,
        E.CHARGER_OFFLINE: S.REFUNDING,
        E.CHARGER_FAULT: S.REFUNDING,
    },
    S.USED: {E.CREDIT_APPLIED: S.CREDITED, E.CREDIT_REFUSED: S.REFUNDING},
    S.REFUNDING: {E.REFUND_OPENED: S.REFUNDED, E.NOTHING_DUE: S.CANCELLED},
    S.CREDITED: {},
    S.EXPIRED: {},
    S.REFUNDED: {},
    S.CANCELLED: {},
    S.UNPAID: {},
}

TRANSITIONS: Mapping[State, Mapping[Event, State]] = MappingProxyType(
    {state: MappingProxyType(events) for state, events in _TABLE.items()}
)
TERMINAL = frozenset(state for state, events in _TABLE.items() if not events)
# Paid and not over: the connector is held for the driver (no one else may pay for it).
HOLDING = frozenset({S.PAID, S.RESERVING, S.RESERVED})
# Not finished: the service wakes these at start-up.
ACTIVE = frozenset(State) - TERMINAL - {S.QUOTED}

RESUME: Mapping[State, str] = MappingProxyType(
    {
        S.QUOTED: "nothing: the pay side's invoice is paid or expires (asked of the node)",
        S.PAID: "ReserveNow was never sent: apply reserve_requested (or charger_offline), send",
        S.RESERVING: (
            "ReserveNow may have gone out: send it again with the same reservationId (the "
            "charger replaces a reservation with the same id, OCPP 1.6 5.13)"
        ),
        S.RESERVED: "watch: time, the charger's presence and status, the driver's payment",
        S.USED: "add the fee as a top-up of the session (once, by payment hash)",
        S.REFUNDING: "open the refund-only session (once, by payment hash)",
        S.CREDITED: "done",
        S.EXPIRED: "done",
        S.REFUNDED: "done: the refund-only session pays",
        S.CANCELLED: "done",
        S.UNPAID: "done",
    }
)


def advance(state: State, event: Event) -> State:
    """The state after ``event``; raises IllegalTransition if the table has no such row."""
    try:
        return _TABLE[state][event]
    except KeyError:
        raise IllegalTransition(str(state), event=str(event)) from None


def transitions() -> Iterator[tuple[State, Event, State]]:
    for state, events in _TABLE.items():
        for event, target in events.items():
            yield state, event, target


def cancel_refund(fee_msat: int, reserved_at: float, expires_at: float, now: float) -> int:
    """What a driver's ``cancel`` gives back: the fee's share of the time not used, rounded
    down to the msat (the connector was held for the rest, so that part is kept)."""
    total = expires_at - reserved_at
    if total <= 0 or now >= expires_at:
        return 0
    left = min(total, expires_at - max(now, reserved_at))
    return int(fee_msat * left // total)
