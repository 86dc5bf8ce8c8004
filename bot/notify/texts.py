"""What the bot tells a driver who waits for a charger ("notify"): plain text, numbers
in, message out, so wording lives in one place and tests can read it."""

from __future__ import annotations

__all__ = [
    "notify_already",
    "notify_cancelled",
    "notify_confirmed",
    "notify_free",
    "notify_free_now",
    "notify_gave_up",
    "notify_limit",
    "notify_none",
]


def notify_confirmed(charger_name: str, hours: float) -> str:
    return (
        f"OK: I will DM you once when {charger_name} is free (for the next {hours:g} h). "
        "Reply 'notify off' to stop."
    )


def notify_free_now(charger_name: str, price: str, how: str) -> str:
    return f"{charger_name} is free now. Price {price}. {how}"


def notify_free(charger_name: str, connector_id: int, price: str, how: str) -> str:
    return f"{charger_name} is free: connector {connector_id} is available. Price {price}. {how}"


def notify_gave_up(charger_name: str, hours: float) -> str:
    return f"{charger_name} did not become free within {hours:g} h; I stopped waiting."


def notify_already(charger_name: str) -> str:
    return f"You are already waiting for {charger_name}. Reply 'notify off' to stop."


def notify_limit(limit: int) -> str:
    return f"You already wait for {limit} chargers; reply 'notify off' at one of them first."


def notify_cancelled(charger_name: str) -> str:
    return f"OK: no notice from {charger_name}."


def notify_none(charger_name: str) -> str:
    return f"You were not waiting for {charger_name}."
