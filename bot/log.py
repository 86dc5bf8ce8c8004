"""Logging set-up and the per-charger adapter. Log lines never carry secrets."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, MutableMapping
from typing import Any

__all__ = ["ChargerLog", "RoutineLines", "charger_log", "setup_logging"]


class ChargerLog(logging.LoggerAdapter[logging.Logger]):
    """Prefixes every line with ``[<charger-id>]``."""

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        return f"[{self.extra['charger_id'] if self.extra else '?'}] {msg}", kwargs


def charger_log(logger: logging.Logger, charger_id: str) -> ChargerLog:
    return ChargerLog(logger, {"charger_id": charger_id})


class RoutineLines:
    """Routine per-charger INFO lines ("online", "booted") up to ``per_interval`` each
    interval; beyond that only counted, and :meth:`summary` logs one line with the counts.

    A handful of chargers keep every line; 10,000 reconnecting at once make a few dozen
    lines instead of 30,000 (formatting and writing them was a measurable part of a
    connect). Warnings never go through here.
    """

    def __init__(
        self,
        logger: logging.Logger,
        *,
        interval_s: float = 10.0,
        per_interval: int = 20,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self._interval_s = interval_s
        self._per_interval = per_interval
        self._clock = clock
        self._window_end = -float("inf")
        self._lines = 0
        self.unlogged: Counter[str] = Counter()  # what since the last summary, how often

    def info(self, clog: logging.LoggerAdapter[Any], what: str, msg: str, *args: object) -> None:
        """Log ``msg`` at INFO unless this interval had its lines; count it as ``what``."""
        now = self._clock()
        if now >= self._window_end:
            self.summary()
            self._window_end, self._lines = now + self._interval_s, 0
        if self._lines < self._per_interval:
            self._lines += 1
            clog.info(msg, *args)
        else:
            self.unlogged[what] += 1

    def summary(self) -> None:
        """One INFO line for what was only counted; nothing when nothing was."""
        if not self.unlogged:
            return
        counts = ", ".join(f"{n:,} {what}" for what, n in sorted(self.unlogged.items()))
        self._logger.info("not logged one by one: %s", counts)
        self.unlogged.clear()


def setup_logging(level: str = "INFO") -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
