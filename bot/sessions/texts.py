"""What the bot tells a driver, as plain text: no I/O, numbers in, message out.

Every DM of a session is built here (started, progress, receipt, refund link or refund
done, failed start) and so are the answers to the ``status``, ``stop`` and ``help``
commands, so wording lives in one place and the tests can read it.
"""

from __future__ import annotations

from bot.sessions.settlement import Receipt, format_msat
from bot.sessions.tariff import Quote

__all__ = [
    "HELP",
    "LATE_TOPUP_REASON",
    "RESERVATION_REFUND_REASON",
    "failed_to_start",
    "late_topup",
    "no_session",
    "not_yours",
    "progress",
    "receipt",
    "refund_done",
    "refund_link",
    "refund_pending",
    "started",
    "status_line",
    "stop_accepted",
    "stop_already",
    "topup",
]

# Every DM command the bot answers, whichever service serves it (bot/notify/desk.py routes
# them): one text, so the "no session" reply and 'help' never list different commands.
HELP = (
    "Commands: 'status' your session's numbers, 'stop' ends your charge, "
    "'notify' tells you when this charger is free ('notify off' stops that), "
    "'cancel' ends your reservation, 'help' this. Zap to charge (zap again while "
    "charging to add budget); zap with the comment 'reserve' to hold a connector for you."
)


def _kwh(wh: int) -> str:
    return f"{wh / 1000:.3f} kWh"


def _price(quote: Quote) -> str:
    text = f"{format_msat(quote.price_msat_per_kwh)}/kWh"
    if quote.session_fee_msat:
        text += f" + {format_msat(quote.session_fee_msat)} session fee"
    if quote.per_minute_msat:
        text += f" + {format_msat(quote.per_minute_msat)}/min"
    return text


def started(session_id: str, quote: Quote, paid_msat: int, budget_wh: int) -> str:
    return (
        f"Charging started. Price {_price(quote)}; paid {format_msat(paid_msat)}, "
        f"budget about {_kwh(budget_wh)}. Reply 'stop' to end it, 'status' for the numbers; "
        f"what you do not use is refunded. Session {session_id}"
    )


def progress(energy_wh: int, cost_msat: int, remaining_msat: int, soc: float | None) -> str:
    soc_text = f", battery {soc:.0f}%" if soc is not None else ""
    return (
        f"Charging: {_kwh(energy_wh)} so far, cost {format_msat(cost_msat)}, "
        f"{format_msat(remaining_msat)} left{soc_text}. Reply 'stop' to end."
    )


def status_line(
    state: str, energy_wh: int, cost_msat: int, paid_msat: int, soc: float | None
) -> str:
    soc_text = f", battery {soc:.0f}%" if soc is not None else ""
    remaining = max(0, paid_msat - cost_msat)
    return (
        f"Session {state}: {_kwh(energy_wh)}, cost {format_msat(cost_msat)} of "
        f"{format_msat(paid_msat)} paid, {format_msat(remaining)} left{soc_text}."
    )


def topup(amount_msat: int, paid_msat: int, budget_wh: int) -> str:
    return (
        f"Top-up of {format_msat(amount_msat)} received: {format_msat(paid_msat)} paid in "
        f"total, budget now about {_kwh(budget_wh)}."
    )


def receipt(r: Receipt) -> str:
    return "Charging stopped. Receipt:\n" + r.text()


def failed_to_start(session_id: str, paid_msat: int, why: str) -> str:
    return (
        f"The charge could not start ({why}). The whole {format_msat(paid_msat)} "
        f"is refunded. Session {session_id}"
    )


LATE_TOPUP_REASON = "topup_after_end"
# A reservation fee (or its unused share) going back; the reservation told the driver why.
RESERVATION_REFUND_REASON = "reservation_refund"


def late_topup(session_id: str, paid_msat: int) -> str:
    return (
        f"Your top-up of {format_msat(paid_msat)} arrived after your charge had ended, so "
        f"it is refunded in full. Session {session_id}"
    )


def refund_link(amount_msat: int, lnurl: str) -> str:
    return (
        f"Your refund of {format_msat(amount_msat)} is ready: open this LNURL-withdraw "
        f"link in your wallet (it works once):\nlightning:{lnurl}"
    )


def refund_done(amount_msat: int, address: str | None) -> str:
    where = f" to {address}" if address else ""
    return f"Refund of {format_msat(amount_msat)} paid{where}. Thank you for charging!"


def refund_pending(amount_msat: int) -> str:
    return f"Your refund of {format_msat(amount_msat)} is on its way; it is retried until paid."


def stop_accepted() -> str:
    return "Stopping your charge; the receipt follows."


def stop_already(state: str) -> str:
    return f"Your session is already {state.replace('_', ' ')}."


def not_yours() -> str:
    return "Only the driver who paid for the running session can stop it."


def no_session() -> str:
    return "You have no session on this charger. Zap it to start one. " + HELP
