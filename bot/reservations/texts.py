"""What the bot tells a driver about a reservation: plain text, numbers in, message out, so
wording lives in one place and tests can read it. The list of DM commands is
``bot.sessions.texts.HELP``."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.sessions.settlement import format_msat

__all__ = [
    "cancel_done",
    "cancel_not_yet",
    "cancel_nothing",
    "ended",
    "expired",
    "no_reservation",
    "reserved",
    "used",
]


def _clock(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%H:%M UTC")


def _minutes(minutes: float) -> str:
    return f"{minutes:g} min"


def reserved(connector_id: int, until: float, minutes: float, fee_msat: int) -> str:
    return (
        f"Reserved: connector {connector_id} is held for you until {_clock(until)} "
        f"({_minutes(minutes)}, fee {format_msat(fee_msat)}). Zap this charger to charge: "
        "the fee counts toward it. Reply 'cancel' to give it up (the unused share of the "
        "fee comes back)."
    )


def used(fee_msat: int) -> str:
    return f"Your reservation fee of {format_msat(fee_msat)} counts toward this charge."


def expired(connector_id: int, fee_msat: int) -> str:
    return (
        f"Your reservation of connector {connector_id} ended unused; the fee of "
        f"{format_msat(fee_msat)} is kept."
    )


def ended(why: str, refund_msat: int) -> str:
    """The reservation could not be kept (refused, offline, fault): all of it goes back."""
    return (
        f"Your reservation could not be kept ({why}). The whole fee of "
        f"{format_msat(refund_msat)} is refunded."
    )


def cancel_done(refund_msat: int, fee_msat: int) -> str:
    return (
        f"Reservation cancelled. {format_msat(refund_msat)} of the {format_msat(fee_msat)} "
        "fee is refunded (the share of the time not used)."
    )


def cancel_nothing(fee_msat: int) -> str:
    return f"Reservation cancelled at its end: the fee of {format_msat(fee_msat)} is kept."


def cancel_not_yet() -> str:
    return "Your reservation is being set up at the charger; try 'cancel' again in a moment."


def no_reservation() -> str:
    return "You have no reservation on this charger."
