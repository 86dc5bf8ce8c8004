"""Reading the sessions filter from a query string: ``charger``, ``state``, ``day``, ``since``,
``limit``. Pure; a wrong value raises ConsoleError 400 naming the parameter."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta

from bot.errors import ConsoleError
from bot.sessions.machine import State
from bot.store.console import SessionFilter

__all__ = ["parse_since", "session_filter"]

_RELATIVE = re.compile(r"^(\d{1,6})([smhd])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_since(text: str, now: float) -> float:
    """``2026-12-01``, ``2026-12-01T08:00:00Z`` (no offset: UTC), unix seconds, or ``90m``,
    ``24h``, ``7d`` back from now."""
    text = text.strip()
    relative = _RELATIVE.match(text)
    if relative:
        return now - int(relative.group(1)) * _UNIT_S[relative.group(2)]
    if text.isdigit():
        return float(text)
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConsoleError(
            f"since: expected a date, an ISO time, unix seconds or 24h/7d, got {text[:40]!r}", 400
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def session_filter(query: Mapping[str, str], now: float) -> SessionFilter:
    charger = query.get("charger") or None
    state_text = query.get("state") or None
    state = None
    if state_text is not None:
        try:
            state = State(state_text)
        except ValueError:
            names = ", ".join(s.value for s in State)
            raise ConsoleError(f"state: expected one of {names}", 400) from None
    since = parse_since(query["since"], now) if query.get("since") else None
    until = None
    if query.get("day"):
        try:
            day = date.fromisoformat(query["day"])
        except ValueError:
            raise ConsoleError("day: expected YYYY-MM-DD", 400) from None
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        since = max(since or 0.0, start.timestamp())
        until = (start + timedelta(days=1)).timestamp()
    limit_text = query.get("limit") or "200"
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= 1000:
        raise ConsoleError("limit: expected 1..1000", 400)
    return SessionFilter(charger, state.value if state else None, since, until, int(limit_text))
