"""The simulated charger's side of the wire: the ``ocpp`` library's ChargePoint with a
handler per command. Handlers only change the simulated state and queue messages: the
library answers one CALL at a time, so a handler must never wait for a call of its own."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ocpp.v16 import ChargePoint, call_result
from ocpp.v16.enums import Action
from websockets.asyncio.client import ClientConnection

from bot.ocpp import simwire
from bot.ocpp.simwire import AnsweringLink
from bot.ocpp.simwire import typed_on as _on

if TYPE_CHECKING:
    from bot.ocpp.simcharger import SimCharger

__all__ = ["SimLink"]

_READONLY = {"NumberOfConnectors"}
_TRIGGERS = {"BootNotification", "Heartbeat", "StatusNotification", "MeterValues"}


class SimLink(AnsweringLink, ChargePoint):  # type: ignore[misc]
    def __init__(self, sim: SimCharger, ws: ClientConnection) -> None:
        super().__init__(sim.settings.charger_id, ws, 30, simwire.WIRE_LOG)
        self._wire_up(sim, ws)

    @_on(Action.remote_start_transaction)
    def on_remote_start(self, id_tag: str, connector_id: int | None = None, **kw: Any) -> Any:
        self._got("RemoteStartTransaction", id_tag=id_tag, connector_id=connector_id, **kw)
        free = [c for c in self.sim.connectors.values() if c.free_for(id_tag)]
        chosen = next((c for c in free if connector_id in (None, c.id)), None)
        if chosen is None:
            return call_result.RemoteStartTransaction(status="Rejected")
        self.sim.start_transaction(chosen, id_tag)
        return call_result.RemoteStartTransaction(status="Accepted")

    @_on(Action.remote_stop_transaction)
    def on_remote_stop(self, transaction_id: int, **kw: Any) -> Any:
        self._got("RemoteStopTransaction", transaction_id=transaction_id)
        for c in self.sim.connectors.values():
            if c.transaction_id == transaction_id:
                self.sim.stop_transaction(c, "Remote")
                return call_result.RemoteStopTransaction(status="Accepted")
        return call_result.RemoteStopTransaction(status="Rejected")

    @_on(Action.change_configuration)
    def on_change_configuration(self, key: str, value: str, **kw: Any) -> Any:
        self._got("ChangeConfiguration", key=key, value=value)
        if key in _READONLY:
            return call_result.ChangeConfiguration(status="Rejected")
        if key not in ("MeterValueSampleInterval", "HeartbeatInterval"):
            return call_result.ChangeConfiguration(status="NotSupported")
        if not value.isdigit() or int(value) < 1:
            return call_result.ChangeConfiguration(status="Rejected")
        if key == "MeterValueSampleInterval":
            self.sim.sample_interval_s = int(value)
        else:
            self.sim.heartbeat_interval_s = int(value)
        return call_result.ChangeConfiguration(status="Accepted")

    @_on(Action.get_configuration)
    def on_get_configuration(self, key: list[str] | None = None, **kw: Any) -> Any:
        self._got("GetConfiguration", key=key)
        known = {
            "MeterValueSampleInterval": str(self.sim.sample_interval_s),
            "HeartbeatInterval": str(self.sim.heartbeat_interval_s),
            "NumberOfConnectors": str(len(self.sim.connectors)),
        }
        wanted = key or list(known)
        return call_result.GetConfiguration(
            configuration_key=[
                {"key": k, "readonly": k in _READONLY, "value": known[k]}
                for k in wanted
                if k in known
            ],
            unknown_key=[k for k in wanted if k not in known] or None,
        )

    @_on(Action.trigger_message)
    def on_trigger_message(
        self, requested_message: str, connector_id: int | None = None, **kw: Any
    ) -> Any:
        self._got("TriggerMessage", requested_message=requested_message, connector_id=connector_id)
        if requested_message not in _TRIGGERS:
            return call_result.TriggerMessage(status="NotImplemented")
        chosen = [c for c in self.sim.connectors.values() if connector_id in (None, 0, c.id)]
        simwire.trigger(self.sim, requested_message, chosen, {"MeterValues"})
        return call_result.TriggerMessage(status="Accepted")

    @_on(Action.unlock_connector)
    def on_unlock_connector(self, connector_id: int, **kw: Any) -> Any:
        self._got("UnlockConnector", connector_id=connector_id)
        if connector_id not in self.sim.connectors:
            return call_result.UnlockConnector(status="NotSupported")
        c = self.sim.connectors[connector_id]
        if c.busy:
            self.sim.stop_transaction(c, "UnlockCommand")
        return call_result.UnlockConnector(status="Unlocked")

    @_on(Action.reset)
    def on_reset(self, type: str, **kw: Any) -> Any:
        self._got("Reset", type=type)
        self.sim.reboot(f"{type}Reset")
        return call_result.Reset(status="Accepted")

    @_on(Action.change_availability)
    def on_change_availability(self, connector_id: int, type: str, **kw: Any) -> Any:
        self._got("ChangeAvailability", connector_id=connector_id, type=type)
        chosen = [c for c in self.sim.connectors.values() if connector_id in (0, c.id)]
        status = simwire.change_availability(self.sim, chosen, type == "Operative")
        return call_result.ChangeAvailability(status=status)

    @_on(Action.set_charging_profile)
    def on_set_charging_profile(
        self, connector_id: int, cs_charging_profiles: dict[str, Any], **kw: Any
    ) -> Any:
        self._got(
            "SetChargingProfile",
            connector_id=connector_id,
            cs_charging_profiles=cs_charging_profiles,
        )
        limit = simwire.power_limit_w(cs_charging_profiles.get("charging_schedule", {}))
        for c in self.sim.connectors.values():
            if connector_id in (0, c.id):
                c.limit_w = limit
        return call_result.SetChargingProfile(status="Accepted")

    @_on(Action.reserve_now)
    def on_reserve_now(
        self, connector_id: int, expiry_date: str, id_tag: str, reservation_id: int, **kw: Any
    ) -> Any:
        self._got(
            "ReserveNow",
            connector_id=connector_id,
            expiry_date=expiry_date,
            id_tag=id_tag,
            reservation_id=reservation_id,
        )
        c = self.sim.connectors.get(connector_id)
        status = simwire.reserve(self.sim, c, reservation_id, id_tag, expiry_date)
        return call_result.ReserveNow(status=status)

    @_on(Action.cancel_reservation)
    def on_cancel_reservation(self, reservation_id: int, **kw: Any) -> Any:
        self._got("CancelReservation", reservation_id=reservation_id)
        for c in self.sim.connectors.values():
            if c.reservation is not None and c.reservation[0] == reservation_id:
                self.sim.end_reservation(c)
                return call_result.CancelReservation(status="Accepted")
        return call_result.CancelReservation(status="Rejected")
