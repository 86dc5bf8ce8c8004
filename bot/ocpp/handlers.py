"""What the central system answers to each CALL a charger sends.

:meth:`Handlers.handle` takes one parsed CALL and returns the frame to send back: a
CALLRESULT, or a CALLERROR with the OCPP-J 1.6 code. Handlers store what they must, tell
:class:`~bot.ports.ChargerEvents`, and never call the charger (a command sent from here
would wait for an answer that the connection cannot read until this handler returns).

Billing messages (Start/StopTransaction, MeterValues, StatusNotification) are read
leniently (see :mod:`bot.ocpp.readings`) and live in :mod:`bot.ocpp.billing`; the others
are checked against the ``ocpp`` library's 1.6 schemas.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ocpp.v16.enums import Action

from bot.config import Config
from bot.log import RoutineLines, charger_log
from bot.ocpp.frames import (
    Call,
    ErrorCode,
    FrameError,
    MessageType,
    encode_error,
    encode_result,
    schema_error,
)
from bot.ocpp.readings import Notes, Unusable
from bot.ports import ChargerEvents
from bot.store.chargers import BootInfo, ChargerStore
from bot.store.meter_log import MeterLog
from bot.store.transactions import TransactionStore

__all__ = ["Context", "Handler", "Handlers", "RemoteStarts", "iso_time"]

log = logging.getLogger("bot.ocpp")

Handler = Callable[[str, dict[str, Any], str], Awaitable[dict[str, Any]]]
# Actions of OCPP 1.6 that a charger must not send us get NotSupported, others NotImplemented.
_KNOWN_ACTIONS = frozenset(a.value for a in Action)


def iso_time(unix: float) -> str:
    return (
        datetime.fromtimestamp(unix, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


class RemoteStarts:
    """RemoteStartTransactions we sent, so that an Authorize (which names no connector)
    can be matched with the connector we asked for."""

    def __init__(self) -> None:
        self._by_tag: dict[tuple[str, str], tuple[int, float]] = {}

    def sent(self, charger_id: str, id_tag: str, connector_id: int, at: float) -> None:
        self._by_tag = {k: v for k, v in self._by_tag.items() if at - v[1] < 600}
        self._by_tag[(charger_id, id_tag)] = (connector_id, at)

    def connector_for(self, charger_id: str, id_tag: str) -> int:
        """The connector of a pending remote start with this tag; 0 (any) when none."""
        found = self._by_tag.get((charger_id, id_tag))
        return found[0] if found else 0

    def done(self, charger_id: str, id_tag: str) -> None:
        self._by_tag.pop((charger_id, id_tag), None)


@dataclass
class Context:
    """Everything a handler may touch; one per central system."""

    config: Config
    chargers: ChargerStore
    transactions: TransactionStore
    meter_log: MeterLog
    events: ChargerEvents
    clock: Callable[[], float]
    remote_starts: RemoteStarts = field(default_factory=RemoteStarts)
    # "online", "offline", "booted": every line for a few chargers, counts for a fleet.
    routine: RoutineLines = field(default_factory=lambda: RoutineLines(log))
    _quirks: set[tuple[str, str]] = field(default_factory=set)

    async def noted(self, charger_id: str, action: str, notes: Notes, raw: str) -> None:
        """Log repaired quirks once per charger, and log and keep anything dropped."""
        clog = charger_log(log, charger_id)
        for quirk in notes.repaired:
            if (charger_id, quirk) not in self._quirks and len(self._quirks) < 10_000:
                self._quirks.add((charger_id, quirk))
                clog.warning("%s quirk accepted: %s (logged once)", action, quirk)
        if notes.dropped:
            detail = "; ".join(notes.dropped)
            clog.warning("%s: part of the message could not be used: %s", action, detail)
            await self.chargers.record_anomaly(
                charger_id, at=self.clock(), kind="unapplied", detail=detail, raw=raw, action=action
            )


SchemaCheck = Callable[[MessageType, str, dict[str, Any]], "FrameError | None"]


class CallAnswers:
    """One CALL in, its reply frame out, in either protocol: the billing messages go to
    their lenient readers, the others are checked against the protocol's schema first; a
    refusal is answered with its code and kept as an anomaly, a failure of ours is an
    InternalError. Each protocol fills in its handlers and its words."""

    def __init__(
        self,
        context: Context,
        *,
        strict: dict[str, Handler],
        lenient: dict[str, Handler],
        known_actions: frozenset[str],
        schema: SchemaCheck,
        version: str,  # "OCPP 1.6"
        role: str,  # what the protocol calls us: "a central system", "this CSMS"
        code_of: Callable[[str], str] = str,  # a refusal's code in the protocol's words
    ) -> None:
        self._base = context
        self._strict, self._lenient = strict, lenient
        self._known, self._schema = known_actions, schema
        self._version, self._role, self._code_of = version, role, code_of

    async def handle(self, charger_id: str, call: Call, raw: str) -> str:
        """The reply frame to ``call``; refusals are logged and kept as anomalies."""
        try:
            payload = await self._dispatch(charger_id, call, raw)
        except (FrameError, Unusable) as refusal:
            code = self._code_of(refusal.code)
            await self._refused(charger_id, call, raw, code, refusal.description)
            return encode_error(call.unique_id, code, refusal.description)
        except Exception:
            charger_log(log, charger_id).exception("%s %s failed", call.action, call.unique_id)
            return encode_error(
                call.unique_id, ErrorCode.INTERNAL_ERROR, f"{call.action} could not be processed"
            )
        return encode_result(call.unique_id, payload)

    async def _dispatch(self, charger_id: str, call: Call, raw: str) -> dict[str, Any]:
        if call.action in self._lenient:
            return await self._lenient[call.action](charger_id, call.payload, raw)
        handler = self._strict.get(call.action)
        if handler is None:
            if call.action in self._known:
                raise FrameError(
                    ErrorCode.NOT_SUPPORTED, f"{call.action} is not taken by {self._role}"
                )
            raise FrameError(
                ErrorCode.NOT_IMPLEMENTED, f"{call.action!r} is not an {self._version} action"
            )
        error = self._schema(MessageType.CALL, call.action, call.payload)
        if error is not None:
            raise error
        return await handler(charger_id, call.payload, raw)

    async def _refused(
        self, charger_id: str, call: Call, raw: str, code: str, description: str
    ) -> None:
        clog = charger_log(log, charger_id)
        clog.warning("refused %s %s: %s %s", call.action, call.unique_id, code, description)
        try:
            await self._base.chargers.record_anomaly(
                charger_id,
                at=self._base.clock(),
                kind="refused",
                detail=description,
                raw=raw,
                action=call.action,
                unique_id=call.unique_id,
                code=code,
            )
        except Exception:  # the refusal is still answered
            clog.exception("could not record the refused %s", call.action)


class Handlers(CallAnswers):
    def __init__(self, context: Context, billing: dict[str, Handler]) -> None:
        self._context = context
        strict: dict[str, Handler] = {
            "BootNotification": self._boot_notification,
            "Heartbeat": self._heartbeat,
            "Authorize": self._authorize,
            "DataTransfer": self._data_transfer,
            "FirmwareStatusNotification": self._notification,
            "DiagnosticsStatusNotification": self._notification,
        }
        super().__init__(
            context,
            strict=strict,
            lenient=billing,
            known_actions=_KNOWN_ACTIONS,
            schema=schema_error,
            version="OCPP 1.6",
            role="a central system",
        )

    async def _boot_notification(
        self, charger_id: str, payload: dict[str, Any], raw: str
    ) -> dict[str, Any]:
        now = self._context.clock()
        boot = BootInfo(
            vendor=payload["chargePointVendor"],
            model=payload["chargePointModel"],
            serial_number=payload.get("chargePointSerialNumber")
            or payload.get("chargeBoxSerialNumber"),
            firmware_version=payload.get("firmwareVersion"),
        )
        await self._context.chargers.booted(charger_id, boot, now)
        still_open = await self._context.transactions.open_of(charger_id)
        clog = charger_log(log, charger_id)
        self._context.routine.info(
            clog,
            "booted",
            "booted: %s %s firmware %s",
            boot.vendor,
            boot.model,
            boot.firmware_version,
        )
        for row in still_open:
            # A rebooted charger sends the StopTransaction it queued; until then it stays open.
            clog.info(
                "transaction %d on connector %d is still open after boot", row.id, row.connector_id
            )
        return {
            "status": "Accepted",
            "currentTime": iso_time(now),
            "interval": self._context.config.ocpp.heartbeat_interval_s,
        }

    async def _heartbeat(
        self, charger_id: str, payload: dict[str, Any], raw: str
    ) -> dict[str, Any]:
        now = self._context.clock()
        self._context.chargers.seen(charger_id, now)  # written in batches: not billing data
        return {"currentTime": iso_time(now)}

    async def _authorize(
        self, charger_id: str, payload: dict[str, Any], raw: str
    ) -> dict[str, Any]:
        id_tag = payload["idTag"]
        context = self._context
        if await context.transactions.open_with_tag(id_tag) is not None:
            return {"idTagInfo": {"status": "ConcurrentTx"}}
        connector_id = context.remote_starts.connector_for(charger_id, id_tag)
        accepted = await context.events.authorize_start(charger_id, connector_id, id_tag)
        return {"idTagInfo": {"status": "Accepted" if accepted else "Invalid"}}

    async def _data_transfer(
        self, charger_id: str, payload: dict[str, Any], raw: str
    ) -> dict[str, Any]:
        charger_log(log, charger_id).info(
            "DataTransfer from vendor %r refused", payload.get("vendorId")
        )
        return {"status": "UnknownVendorId"}

    async def _notification(
        self, charger_id: str, payload: dict[str, Any], raw: str
    ) -> dict[str, Any]:
        charger_log(log, charger_id).info("status notification: %s", payload.get("status"))
        return {}
