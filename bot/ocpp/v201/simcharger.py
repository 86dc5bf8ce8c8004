"""A simulated OCPP 2.0.1 charging station: the 1.6 simulator's connectors, meters and
outbox, speaking 2.0.1 on the wire.

One connector per EVSE (EVSE N, connector 1). The message sequence of a remote start:
RequestStartTransaction -> StatusNotification Occupied -> TransactionEvent Started
(RemoteStart, idToken, remoteStartId, the Begin reading) -> Updated (ChargingStateChanged
to Charging) -> Updated every ``TxUpdatedInterval`` with energy, power and state of charge
-> RequestStopTransaction -> Ended (RemoteStop, the End reading). Every TransactionEvent of a
transaction carries the next ``seqNo``. What happens while the connection is down is queued
with ``offline=true`` and sent in order after the reconnect, the periodic samples it would
have sent included, as a real station does.

From the shell: ``zapcharge sim-charger --ocpp 2.0.1 --url ... --id ... --password ...``.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

from ocpp.v201 import call

from bot.ocpp.simcharger import SimCharger, _Outgoing
from bot.ocpp.simstate import SimConnector, meter_value
from bot.ocpp.v201.simlink import SimLink201

__all__ = ["SimCharger201", "meter_value_201"]

# Our simulated connector states (1.6 words) as a 2.0.1 connector status.
_CONNECTOR_STATUS = {
    "Available": "Available",
    "Preparing": "Occupied",
    "Charging": "Occupied",
    "SuspendedEV": "Occupied",
    "SuspendedEVSE": "Occupied",
    "Finishing": "Occupied",
    "Reserved": "Reserved",
    "Unavailable": "Unavailable",
    "Faulted": "Faulted",
}
# Why a transaction ends (the 1.6 simulator's words) -> (triggerReason, stoppedReason).
_ENDINGS = {
    "Remote": ("RemoteStop", "Remote"),
    "EVDisconnected": ("EVCommunicationLost", "EVDisconnected"),
    "DeAuthorized": ("Deauthorized", "DeAuthorized"),
    "Other": ("AbnormalCondition", "Other"),
    "UnlockCommand": ("UnlockCommand", "Other"),
    "ImmediateReset": ("ResetCommand", "ImmediateReset"),
    "OnIdleReset": ("ResetCommand", "Reboot"),
}


def meter_value_201(connector: SimConnector, timestamp: str, context: str) -> dict[str, Any]:
    """The simulator's meter value in 2.0.1 form: numbers, ``unitOfMeasure``."""
    reading = meter_value(connector, timestamp, context)
    return {
        "timestamp": timestamp,
        "sampledValue": [
            {
                "value": float(s["value"]),
                "context": s["context"],
                "measurand": s["measurand"],
                "location": s["location"],
                "unitOfMeasure": {"unit": s["unit"]},
            }
            for s in reading["sampledValue"]
        ],
    }


@dataclass
class _Tx:
    transaction_id: str
    remote_start_id: int | None
    seq_no: int = 0
    last_sample: float = 0.0  # simulated unix time of its last periodic reading


@dataclass
class SimCharger201(SimCharger):
    SUBPROTOCOL: ClassVar[str] = "ocpp2.0.1"
    transactions: dict[int, _Tx] = field(default_factory=dict)
    remote_start_ids: dict[int, int] = field(default_factory=dict)  # evse -> pending id
    _wire_status: dict[int, str] = field(default_factory=dict)

    def _link(self, ws: Any) -> Any:
        return SimLink201(self, ws)

    def _boot_item(self) -> _Outgoing:
        request = call.BootNotification(
            charging_station={"model": self.settings.model, "vendor_name": self.settings.vendor},
            reason="PowerUp",
        )
        return _Outgoing(request, self._boot_answered)

    def send_heartbeat(self) -> None:
        self._send(call.Heartbeat())

    def reservation_expired(self, c: SimConnector) -> None:
        """2.0.1 tells the CSMS (H01.FR.17), then the connector is Available again."""
        if c.reservation is not None:
            self._send(
                call.ReservationStatusUpdate(
                    reservation_id=c.reservation[0], reservation_update_status="Expired"
                )
            )
        self.end_reservation(c)

    def _status(self, c: SimConnector, status: str, *, force: bool = False) -> None:
        c.status = status
        wire = _CONNECTOR_STATUS.get(status, "Unavailable")
        if not force and self._wire_status.get(c.id) == wire and self.connected:
            return  # 2.0.1 stations report a connector status when it changes
        self._wire_status[c.id] = wire
        self._send(
            call.StatusNotification(
                timestamp=self.clock.iso(), connector_status=wire, evse_id=c.id, connector_id=1
            )
        )

    def resend_status(self, c: SimConnector, status: str | None = None) -> None:
        self._advance(c.id)
        self._status(c, status or c.status, force=True)

    def fault(self, connector_id: int = 1, error_code: str = "GroundFailure") -> None:
        self._send(
            call.NotifyEvent(
                generated_at=self.clock.iso(),
                seq_no=0,
                event_data=[
                    {
                        "event_id": 1,
                        "timestamp": self.clock.iso(),
                        "trigger": "Alerting",
                        "actual_value": "true",
                        "tech_code": error_code,
                        "event_notification_type": "HardWiredNotification",
                        "component": {"name": "Connector", "evse": {"id": connector_id}},
                        "variable": {"name": "Problem"},
                    }
                ],
            )
        )
        super().fault(connector_id, error_code)

    # -- transactions -----------------------------------------------------------------------

    def _event(self, c: SimConnector, tx: _Tx, kind: str, trigger: str, **info: Any) -> Any:
        event = call.TransactionEvent(
            event_type=kind,
            timestamp=self.clock.iso(),
            trigger_reason=trigger,
            seq_no=tx.seq_no,
            transaction_info={"transaction_id": tx.transaction_id, **info},
            offline=True if not self.connected else None,
        )
        tx.seq_no += 1
        return event

    def start_transaction(self, c: SimConnector, id_tag: str) -> None:
        self._advance(c.id)
        c.plugged, c.starting, c.id_tag, c.stop_when_started = True, True, id_tag, None
        tx = _Tx(str(uuid.uuid4()), self.remote_start_ids.pop(c.id, None), 0, self.clock.now())
        self.transactions[c.id] = tx
        c.transaction_id = tx.transaction_id
        self._status(c, "Preparing")
        info: dict[str, Any] = {"charging_state": "EVConnected"}
        if tx.remote_start_id is not None:
            info["remote_start_id"] = tx.remote_start_id
        event = self._event(c, tx, "Started", "RemoteStart", **info)
        event.id_token = {"id_token": id_tag, "type": "Central"}
        event.evse = {"id": c.id, "connector_id": 1}
        event.meter_value = [meter_value_201(c, self.clock.iso(), "Transaction.Begin")]
        self._send(event, lambda answer: self._started(c, answer))

    def _started(self, c: SimConnector, answer: Any) -> None:
        c.starting = False
        accepted = answer is not None and (answer.id_token_info or {}).get("status") == "Accepted"
        if c.stop_when_started is not None:
            self.stop_transaction(c, c.stop_when_started)
        elif not accepted:
            self.stop_transaction(c, "DeAuthorized")
        else:
            self._advance(c.id)
            c.status = "Charging"
            tx = self.transactions[c.id]
            event = self._event(c, tx, "Updated", "ChargingStateChanged", charging_state="Charging")
            event.meter_value = [meter_value_201(c, self.clock.iso(), "Sample.Periodic")]
            self._send(event)
            tx.last_sample = self.clock.now()
            self._due[c.id] = self._next_due()

    def stop_transaction(self, c: SimConnector, reason: str) -> None:
        if c.starting:
            c.stop_when_started = reason  # stopped before the CSMS answered the Started
            return
        tx = self.transactions.pop(c.id, None)
        if tx is None:
            return
        self._advance(c.id)
        trigger, stopped = _ENDINGS.get(reason, ("AbnormalCondition", "Other"))
        state = "EVConnected" if c.plugged else "Idle"
        event = self._event(c, tx, "Ended", trigger, stopped_reason=stopped, charging_state=state)
        end = meter_value_201(c, self.clock.iso(), "Transaction.End")
        late = self.settings.late_end_readings
        if not late:
            event.meter_value = [end]
        self._send(event)
        if late:  # quirk: the End reading after the Ended event, in a MeterValues
            self._send(call.MeterValues(evse_id=c.id, meter_value=[end]))
        c.transaction_id, c.id_tag = None, None
        self._due.pop(c.id, None)
        if c.pending_inoperative:
            c.operative, c.pending_inoperative = False, False
        self._status(c, "Finishing" if c.plugged and c.error_code == "NoError" else c.idle_status())
        if c.plugged and self.settings.auto_unplug_s is not None:
            self._unplug_at[c.id] = self._next_due(self.settings.auto_unplug_s)

    def send_meter_values(self, c: SimConnector, context: str = "Sample.Periodic") -> None:
        self._advance(c.id)
        tx = self.transactions.get(c.id)
        reading = meter_value_201(c, self.clock.iso(), context)
        if tx is None or c.starting:
            self._send(call.MeterValues(evse_id=c.id, meter_value=[reading]))
            return
        trigger = "Trigger" if context == "Trigger" else "MeterValuePeriodic"
        event = self._event(c, tx, "Updated", trigger, charging_state=_charging_state(c))
        event.meter_value = [reading]
        self._send(event)
        tx.last_sample = self.clock.now()

    def _resumed(self) -> None:
        """The periodic samples due while the connection was down, marked offline, in order."""
        now = self.clock.now()
        for c in self.connectors.values():
            tx = self.transactions.get(c.id)
            if tx is None or c.starting or c.id not in self._due:
                continue
            at = tx.last_sample + self.sample_interval_s
            while at < now:
                c.advance(at)
                event = self._event(
                    c, tx, "Updated", "MeterValuePeriodic", charging_state=_charging_state(c)
                )
                event.offline = True
                event.timestamp = _iso(at)
                event.meter_value = [meter_value_201(c, _iso(at), "Sample.Periodic")]
                self._send(event)
                tx.last_sample, at = at, at + self.sample_interval_s
            self._due[c.id] = self._next_due()

    def _next_due(self, sim_seconds: float | None = None) -> float:
        wait = self.sample_interval_s if sim_seconds is None else sim_seconds
        return time.monotonic() + self.clock.real_seconds(wait)


def _charging_state(c: SimConnector) -> str:
    if c.status in ("Charging", "SuspendedEV", "SuspendedEVSE"):
        return c.status if c.power_w() > 0 or c.status != "Charging" else "SuspendedEV"
    return "EVConnected"


def _iso(unix: float) -> str:
    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
