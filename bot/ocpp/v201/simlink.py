"""The simulated 2.0.1 station's side of the wire: the ``ocpp`` library's v201 ChargePoint
with a handler per CSMS command. As in 1.6 (:mod:`bot.ocpp.simlink`), handlers only change
the simulated state and queue messages; they never wait for a call of their own."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ocpp.exceptions import NotSupportedError
from ocpp.v201 import ChargePoint, call_result
from ocpp.v201.enums import Action
from websockets.asyncio.client import ClientConnection

from bot.ocpp import simwire
from bot.ocpp.simwire import AnsweringLink
from bot.ocpp.simwire import typed_on as _on

if TYPE_CHECKING:
    from bot.ocpp.simstate import SimConnector
    from bot.ocpp.v201.simcharger import SimCharger201

__all__ = ["SimLink201"]

_TRIGGERS = {
    "BootNotification",
    "Heartbeat",
    "StatusNotification",
    "MeterValues",
    "TransactionEvent",
}


class SimLink201(AnsweringLink, ChargePoint):  # type: ignore[misc]
    sim: SimCharger201

    def __init__(self, sim: SimCharger201, ws: ClientConnection) -> None:
        super().__init__(sim.settings.charger_id, ws, 30, simwire.WIRE_LOG)
        self._wire_up(sim, ws)

    def _free(self, evse_id: int | None, id_token: str) -> Any:
        """A usable EVSE that is not held for another token (a reserved one starts only for
        the reservation's own token)."""
        for c in self.sim.connectors.values():
            if c.free_for(id_token) and evse_id in (None, c.id):
                return c
        return None

    @_on(Action.request_start_transaction)
    def on_request_start(
        self, id_token: dict[str, Any], remote_start_id: int, evse_id: int | None = None, **kw: Any
    ) -> Any:
        self._got(
            "RequestStartTransaction",
            id_token=id_token,
            remote_start_id=remote_start_id,
            evse_id=evse_id,
        )
        chosen = self._free(evse_id, id_token["id_token"])
        if chosen is None:
            return call_result.RequestStartTransaction(status="Rejected")
        self.sim.remote_start_ids[chosen.id] = remote_start_id
        self.sim.start_transaction(chosen, id_token["id_token"])
        return call_result.RequestStartTransaction(status="Accepted")

    @_on(Action.request_stop_transaction)
    def on_request_stop(self, transaction_id: str, **kw: Any) -> Any:
        self._got("RequestStopTransaction", transaction_id=transaction_id)
        for c in self.sim.connectors.values():
            if c.transaction_id == transaction_id:
                self.sim.stop_transaction(c, "Remote")
                return call_result.RequestStopTransaction(status="Accepted")
        return call_result.RequestStopTransaction(status="Rejected")

    @_on(Action.set_variables)
    def on_set_variables(self, set_variable_data: list[dict[str, Any]], **kw: Any) -> Any:
        self._got("SetVariables", set_variable_data=set_variable_data)
        results = []
        for item in set_variable_data:
            status = self._set(
                item["component"]["name"], item["variable"]["name"], item["attribute_value"]
            )
            results.append(
                {
                    "attribute_status": status,
                    "component": item["component"],
                    "variable": item["variable"],
                }
            )
        return call_result.SetVariables(set_variable_result=results)

    def _set(self, component: str, variable: str, value: str) -> str:
        if (component, variable) == ("SampledDataCtrlr", "TxUpdatedMeasurands"):
            return "Accepted"
        if (component, variable) not in (
            ("SampledDataCtrlr", "TxUpdatedInterval"),
            ("OCPPCommCtrlr", "HeartbeatInterval"),
        ):
            return "UnknownVariable" if component in _COMPONENTS else "UnknownComponent"
        if not value.isdigit() or int(value) < 1:
            return "Rejected"
        if variable == "TxUpdatedInterval":
            self.sim.sample_interval_s = int(value)
        else:
            self.sim.heartbeat_interval_s = int(value)
        return "Accepted"

    @_on(Action.get_variables)
    def on_get_variables(self, get_variable_data: list[dict[str, Any]], **kw: Any) -> Any:
        self._got("GetVariables", get_variable_data=get_variable_data)
        known = {
            ("SampledDataCtrlr", "TxUpdatedInterval"): str(self.sim.sample_interval_s),
            ("OCPPCommCtrlr", "HeartbeatInterval"): str(self.sim.heartbeat_interval_s),
        }
        results = []
        for item in get_variable_data:
            key = (item["component"]["name"], item["variable"]["name"])
            result: dict[str, Any] = {
                "component": item["component"],
                "variable": item["variable"],
                "attribute_status": "Accepted" if key in known else "UnknownVariable",
            }
            if key in known:
                result["attribute_value"] = known[key]
            results.append(result)
        return call_result.GetVariables(get_variable_result=results)

    @_on(Action.trigger_message)
    def on_trigger_message(
        self, requested_message: str, evse: dict[str, Any] | None = None, **kw: Any
    ) -> Any:
        self._got("TriggerMessage", requested_message=requested_message, evse=evse)
        if requested_message not in _TRIGGERS:
            return call_result.TriggerMessage(status="NotImplemented")
        evse_id = evse["id"] if evse else None
        chosen = [c for c in self.sim.connectors.values() if evse_id in (None, c.id)]
        simwire.trigger(self.sim, requested_message, chosen, {"MeterValues", "TransactionEvent"})
        return call_result.TriggerMessage(status="Accepted")

    @_on(Action.unlock_connector)
    def on_unlock_connector(self, evse_id: int, connector_id: int, **kw: Any) -> Any:
        self._got("UnlockConnector", evse_id=evse_id, connector_id=connector_id)
        if evse_id not in self.sim.connectors or connector_id != 1:
            return call_result.UnlockConnector(status="UnknownConnector")
        c = self.sim.connectors[evse_id]
        if c.busy:
            return call_result.UnlockConnector(status="OngoingAuthorizedTransaction")
        return call_result.UnlockConnector(status="Unlocked")

    @_on(Action.reset)
    def on_reset(self, type: str, evse_id: int | None = None, **kw: Any) -> Any:
        self._got("Reset", type=type, evse_id=evse_id)
        self.sim.reboot(f"{type}Reset")
        return call_result.Reset(status="Accepted")

    @_on(Action.change_availability)
    def on_change_availability(
        self, operational_status: str, evse: dict[str, Any] | None = None, **kw: Any
    ) -> Any:
        self._got("ChangeAvailability", operational_status=operational_status, evse=evse)
        evse_id = evse["id"] if evse else None
        chosen = [c for c in self.sim.connectors.values() if evse_id in (None, 0, c.id)]
        status = simwire.change_availability(self.sim, chosen, operational_status == "Operative")
        return call_result.ChangeAvailability(status=status)

    @_on(Action.reserve_now)
    def on_reserve_now(
        self,
        id: int,
        expiry_date_time: str,
        id_token: dict[str, Any],
        evse_id: int | None = None,
        **kw: Any,
    ) -> Any:
        self._got(
            "ReserveNow",
            id=id,
            expiry_date_time=expiry_date_time,
            id_tag=id_token["id_token"],
            evse_id=evse_id,
        )
        if not self.sim.settings.takes_reservations:
            # Reservation is an optional functional block in 2.0.1; without it a station
            # has no handler and answers with a CALLERROR.
            raise NotSupportedError(details={"cause": "this station takes no reservations"})
        token = id_token["id_token"]
        if evse_id is None:  # any EVSE will do (H01.FR.04): the first that is free
            free = [c for c in self.sim.connectors.values() if c.free_for(token)]
            if not free:
                return call_result.ReserveNow(status="Occupied")
            chosen: SimConnector | None = free[0]
        else:
            chosen = self.sim.connectors.get(evse_id)
        # The same id again replaces the reservation (H01.FR.02).
        status = simwire.reserve(self.sim, chosen, id, token, expiry_date_time)
        return call_result.ReserveNow(status=status)

    @_on(Action.cancel_reservation)
    def on_cancel_reservation(self, reservation_id: int, **kw: Any) -> Any:
        self._got("CancelReservation", reservation_id=reservation_id)
        if not self.sim.settings.takes_reservations:
            raise NotSupportedError(details={"cause": "this station takes no reservations"})
        for c in self.sim.connectors.values():
            if c.reservation is not None and c.reservation[0] == reservation_id:
                self.sim.end_reservation(c)
                return call_result.CancelReservation(status="Accepted")
        return call_result.CancelReservation(status="Rejected")

    @_on(Action.set_charging_profile)
    def on_set_charging_profile(
        self, evse_id: int, charging_profile: dict[str, Any], **kw: Any
    ) -> Any:
        self._got("SetChargingProfile", evse_id=evse_id, charging_profile=charging_profile)
        schedule = (charging_profile.get("charging_schedule") or [{}])[0]
        limit = simwire.power_limit_w(schedule)
        for c in self.sim.connectors.values():
            if evse_id in (0, c.id):
                c.limit_w = limit
        return call_result.SetChargingProfile(status="Accepted")


_COMPONENTS = {"SampledDataCtrlr", "OCPPCommCtrlr", "EVSE"}
