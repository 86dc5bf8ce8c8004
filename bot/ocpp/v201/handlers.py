"""What the central system answers to each CALL an OCPP 2.0.1 charging station sends.

The same shape as 1.6 (:mod:`bot.ocpp.handlers`): :meth:`Handlers.handle` takes one parsed
CALL and returns the reply frame; handlers store, tell :class:`~bot.ports.ChargerEvents`,
and never call the charger. The billing messages (TransactionEvent, MeterValues,
StatusNotification) live in :mod:`bot.ocpp.v201.billing` and are read leniently; the others
are checked against the ``ocpp`` library's 2.0.1 schemas.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from ocpp.v201.enums import Action

from bot.log import charger_log
from bot.ocpp.handlers import CallAnswers, Context, Handler, iso_time
from bot.ocpp.v201.frames import code_of, schema_error
from bot.ocpp.v201.status import EvseStates
from bot.store.chargers import BootInfo, ConnectorState
from bot.store.ocpp201 import Ocpp201Store

__all__ = ["Context201", "Handlers"]

log = logging.getLogger("bot.ocpp")

_KNOWN_ACTIONS = frozenset(a.value for a in Action)
_PROBLEM_COMPONENTS = {"Connector", "EVSE", "ChargingStation"}


@dataclass
class Context201:
    """The 1.6 context (stores, events, clock) and what 2.0.1 adds to it."""

    base: Context
    store: Ocpp201Store
    evses: dict[str, EvseStates] = field(default_factory=dict)
    problems: dict[tuple[str, int], str] = field(default_factory=dict)  # NotifyEvent Problem

    async def evse_status(
        self, charger_id: str, evse_id: int, status: str | None, info: str, reported: float | None
    ) -> None:
        """Store and report an EVSE's new 1.6-vocabulary status (None: unchanged)."""
        if status is None:
            return
        base = self.base
        error_code = "NoError"
        if status == "Faulted":
            error_code = self.problems.get((charger_id, evse_id), "OtherError")
        await base.chargers.set_status(
            charger_id,
            ConnectorState(evse_id, status, error_code, info, reported, base.clock()),
        )
        try:
            await base.events.connector_status(charger_id, evse_id, status, error_code)
        except Exception:
            charger_log(log, charger_id).exception("connector_status event failed")

    def states(self, charger_id: str) -> EvseStates:
        return self.evses.setdefault(charger_id, EvseStates())


class Handlers(CallAnswers):
    def __init__(self, context: Context201, billing: dict[str, Handler]) -> None:
        self._context = context
        strict: dict[str, Handler] = {
            "BootNotification": self._boot_notification,
            "Heartbeat": self._heartbeat,
            "Authorize": self._authorize,
            "NotifyEvent": self._notify_event,
            "SecurityEventNotification": self._security_event,
            "NotifyReport": self._notify_report,
            "DataTransfer": self._data_transfer,
            "FirmwareStatusNotification": self._notification,
            "LogStatusNotification": self._notification,
            "ReservationStatusUpdate": self._reservation_status,
        }
        super().__init__(
            context.base,
            strict=strict,
            lenient=billing,
            known_actions=_KNOWN_ACTIONS,
            schema=schema_error,
            version="OCPP 2.0.1",
            role="this CSMS",
            code_of=code_of,
        )

    async def _boot_notification(
        self, charger_id: str, payload: dict[str, Any], raw: str
    ) -> dict[str, Any]:
        base = self._context.base
        now = base.clock()
        station = payload["chargingStation"]
        boot = BootInfo(
            vendor=station["vendorName"],
            model=station["model"],
            serial_number=station.get("serialNumber"),
            firmware_version=station.get("firmwareVersion"),
        )
        await base.chargers.booted(charger_id, boot, now)
        clog = charger_log(log, charger_id)
        base.routine.info(
            clog,
            "booted",
            "booted (%s): %s %s firmware %s",
            payload["reason"],
            boot.vendor,
            boot.model,
            boot.firmware_version,
        )
        for row in await base.transactions.open_of(charger_id):
            # Its queued TransactionEvents (offline=true) follow; until Ended it stays open.
            clog.info(
                "transaction %d on EVSE %d is still open after boot", row.id, row.connector_id
            )
        return {
            "status": "Accepted",
            "currentTime": iso_time(now),
            "interval": base.config.ocpp.heartbeat_interval_s,
        }

    async def _heartbeat(
        self, charger_id: str, payload: dict[str, Any], raw: str
    ) -> dict[str, Any]:
        base = self._context.base
        now = base.clock()
        base.chargers.seen(charger_id, now)  # written in batches: not billing data
        return {"currentTime": iso_time(now)}

    async def _authorize(
        self, charger_id: str, payload: dict[str, Any], raw: str
    ) -> dict[str, Any]:
        token = payload["idToken"]["idToken"]
        base = self._context.base
        if await base.transactions.open_with_tag(token) is not None:
            return {"idTokenInfo": {"status": "ConcurrentTx"}}
        started = await self._context.store.remote_start_of(charger_id, token)
        evse_id = started.evse_id if started else 0
        accepted = await base.events.authorize_start(charger_id, evse_id, token)
        return {"idTokenInfo": {"status": "Accepted" if accepted else "Invalid"}}

    async def _notify_event(
        self, charger_id: str, payload: dict[str, Any], raw: str
    ) -> dict[str, Any]:
        clog = charger_log(log, charger_id)
        for event in payload["eventData"]:
            component, variable = event["component"], event["variable"]
            evse = component.get("evse", {}).get("id", 0)
            clog.info(
                "event %s: %s.%s = %r (%s)",
                event["eventId"],
                component["name"],
                variable["name"],
                event["actualValue"],
                event["trigger"],
            )
            if component["name"] in _PROBLEM_COMPONENTS and variable["name"] == "Problem":
                # The fault's detail, for the Faulted status that follows (or came first).
                key = (charger_id, evse)
                if event["actualValue"].lower() == "true" and not event.get("cleared"):
                    self._context.problems[key] = event.get("techCode") or "Problem"
                else:
                    self._context.problems.pop(key, None)
        return {}

    async def _security_event(
        self, charger_id: str, payload: dict[str, Any], raw: str
    ) -> dict[str, Any]:
        charger_log(log, charger_id).warning(
            "security event %s at %s: %s",
            payload["type"],
            payload["timestamp"],
            payload.get("techInfo", ""),
        )
        base = self._context.base
        await base.chargers.record_anomaly(
            charger_id,
            at=base.clock(),
            kind="security event",
            detail=payload["type"],
            raw=raw,
            action="SecurityEventNotification",
        )
        return {}

    async def _notify_report(
        self, charger_id: str, payload: dict[str, Any], raw: str
    ) -> dict[str, Any]:
        report = payload.get("reportData", [])
        charger_log(log, charger_id).info(
            "report %d part %d: %d variables%s",
            payload["requestId"],
            payload["seqNo"],
            len(report),
            " (more follow)" if payload.get("tbc") else "",
        )
        for item in report:
            attributes = item.get("variableAttribute", [{}])
            charger_log(log, charger_id).debug(
                "report: %s.%s = %r",
                item["component"]["name"],
                item["variable"]["name"],
                attributes[0].get("value") if attributes else None,
            )
        return {}

    async def _data_transfer(
        self, charger_id: str, payload: dict[str, Any], raw: str
    ) -> dict[str, Any]:
        charger_log(log, charger_id).info(
            "DataTransfer from vendor %r refused", payload.get("vendorId")
        )
        return {"status": "UnknownVendorId"}

    async def _reservation_status(
        self, charger_id: str, payload: dict[str, Any], raw: str
    ) -> dict[str, Any]:
        """Expired or Removed at the station. The reservation service keeps its own clock
        and watches the connector's status (a fault refunds the fee), so this is logged."""
        charger_log(log, charger_id).info(
            "reservation %s: %s at the station",
            payload["reservationId"],
            payload["reservationUpdateStatus"],
        )
        return {}

    async def _notification(
        self, charger_id: str, payload: dict[str, Any], raw: str
    ) -> dict[str, Any]:
        charger_log(log, charger_id).info("status notification: %s", payload.get("status"))
        return {}
