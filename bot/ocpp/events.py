"""A stand-in for the session layer until ``app.py`` wires the real one in: it logs what
chargers report and authorizes no idTag, so no transaction can start unpaid."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from bot.log import charger_log
from bot.ports import MeterSample

__all__ = ["UnwiredEvents"]

log = logging.getLogger("bot.ocpp.events")


class UnwiredEvents:
    async def charger_online(self, charger_id: str, online: bool) -> None:
        charger_log(log, charger_id).debug("online: %s", online)

    async def connector_status(
        self, charger_id: str, connector_id: int, status: str, error_code: str
    ) -> None:
        charger_log(log, charger_id).debug("connector %d: %s %s", connector_id, status, error_code)

    async def authorize_start(self, charger_id: str, connector_id: int, id_tag: str) -> bool:
        charger_log(log, charger_id).warning("no session layer: idTag refused")
        return False

    async def transaction_started(
        self,
        charger_id: str,
        *,
        connector_id: int,
        id_tag: str,
        transaction_id: int,
        meter_start_wh: int,
        timestamp: str,
    ) -> None:
        return None

    async def meter_values(
        self,
        charger_id: str,
        connector_id: int,
        transaction_id: int | None,
        samples: Sequence[MeterSample],
    ) -> None:
        return None

    async def transaction_stopped(
        self,
        charger_id: str,
        *,
        transaction_id: int,
        meter_stop_wh: int,
        reason: str,
        timestamp: str,
        samples: Sequence[MeterSample],
    ) -> None:
        return None
