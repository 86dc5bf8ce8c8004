"""Logging set-up and the per-charger adapter. Log lines never carry secrets."""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any

__all__ = ["ChargerLog", "charger_log", "setup_logging"]


class ChargerLog(logging.LoggerAdapter[logging.Logger]):
    """Prefixes every line with ``[<charger-id>]``."""

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        return f"[{self.extra['charger_id'] if self.extra else '?'}] {msg}", kwargs


def charger_log(logger: logging.Logger, charger_id: str) -> ChargerLog:
    return ChargerLog(logger, {"charger_id": charger_id})


def setup_logging(level: str = "INFO") -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
