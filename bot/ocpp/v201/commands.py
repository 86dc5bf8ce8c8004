"""Commands to an OCPP 2.0.1 charging station, without I/O: request payloads, typed answers.

Each function returns a :class:`~bot.ocpp.commands.Command` marked ``version="2.0.1"``;
:meth:`bot.ocpp.CentralSystem.send` refuses to send it to a 1.6 charger, checks the answer
against the 2.0.1 response schema and hands back ``command.parse(answer)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from bot.ocpp.commands import Command
from bot.ocpp.v201.frames import VERSION

__all__ = [
    "SAMPLED_DATA",
    "TX_MEASURANDS",
    "AvailabilityStatus",
    "ChargingProfileStatus",
    "RequestStatus",
    "ResetStatus",
    "TriggerStatus",
    "TriggerableMessage",
    "UnlockStatus",
    "Variable",
    "VariableResult",
    "change_availability",
    "get_variables",
    "power_limit_profile",
    "profile_from_16",
    "request_start",
    "request_stop",
    "reset",
    "set_charging_profile",
    "set_variables",
    "trigger_message",
    "unlock_connector",
]

RequestStatus = Literal["Accepted", "Rejected"]
TriggerStatus = Literal["Accepted", "Rejected", "NotImplemented"]
UnlockStatus = Literal[
    "Unlocked", "UnlockFailed", "OngoingAuthorizedTransaction", "UnknownConnector"
]
ResetStatus = Literal["Accepted", "Rejected", "Scheduled"]
AvailabilityStatus = Literal["Accepted", "Rejected", "Scheduled"]
ChargingProfileStatus = Literal["Accepted", "Rejected"]
TriggerableMessage = Literal[
    "BootNotification",
    "FirmwareStatusNotification",
    "Heartbeat",
    "LogStatusNotification",
    "MeterValues",
    "StatusNotification",
    "TransactionEvent",
]
SAMPLED_DATA = "SampledDataCtrlr"
# What a paid session needs in every TransactionEvent Updated (the budget is energy).
TX_MEASURANDS = "Energy.Active.Import.Register,Power.Active.Import,SoC"


@dataclass(frozen=True)
class Variable:
    """A device model variable: ``component.variable`` (``SampledDataCtrlr.TxUpdatedInterval``)."""

    component: str
    variable: str
    evse_id: int | None = None

    def wire(self) -> dict[str, Any]:
        component: dict[str, Any] = {"name": self.component}
        if self.evse_id is not None:
            component["evse"] = {"id": self.evse_id}
        return {"component": component, "variable": {"name": self.variable}}


@dataclass(frozen=True)
class VariableResult:
    variable: Variable
    status: str  # Accepted, Rejected, UnknownComponent, UnknownVariable, ... RebootRequired
    value: str | None = None  # GetVariables only


def _status(answer: dict[str, Any]) -> Any:
    # The answer has passed its schema, so "status" is one of the enum's values.
    return answer["status"]


def _command(action: str, payload: dict[str, Any], parse: Any = _status) -> Command[Any]:
    return Command(action, payload, parse, VERSION)


def request_start(evse_id: int, id_token: str, remote_start_id: int) -> Command[RequestStatus]:
    """Our per-session token, of type Central (made by the CSMS, no format defined)."""
    return _command(
        "RequestStartTransaction",
        {
            "idToken": {"idToken": id_token, "type": "Central"},
            "remoteStartId": remote_start_id,
            "evseId": evse_id,
        },
    )


def request_stop(charger_tx_id: str) -> Command[RequestStatus]:
    return _command("RequestStopTransaction", {"transactionId": charger_tx_id})


def set_variables(values: Mapping[Variable, str]) -> Command[tuple[VariableResult, ...]]:
    data = [{"attributeValue": value, **v.wire()} for v, value in values.items()]
    return _command("SetVariables", {"setVariableData": data}, _set_results)


def get_variables(variables: Sequence[Variable]) -> Command[tuple[VariableResult, ...]]:
    return _command(
        "GetVariables", {"getVariableData": [v.wire() for v in variables]}, _get_results
    )


def _variable(item: dict[str, Any]) -> Variable:
    evse = item["component"].get("evse")
    return Variable(item["component"]["name"], item["variable"]["name"], evse and evse["id"])


def _set_results(answer: dict[str, Any]) -> tuple[VariableResult, ...]:
    return tuple(
        VariableResult(_variable(r), r["attributeStatus"]) for r in answer["setVariableResult"]
    )


def _get_results(answer: dict[str, Any]) -> tuple[VariableResult, ...]:
    return tuple(
        VariableResult(_variable(r), r["attributeStatus"], r.get("attributeValue"))
        for r in answer["getVariableResult"]
    )


def trigger_message(
    message: TriggerableMessage, evse_id: int | None = None, connector_id: int | None = None
) -> Command[TriggerStatus]:
    payload: dict[str, Any] = {"requestedMessage": message}
    if evse_id is not None:
        payload["evse"] = {"id": evse_id}
        if connector_id is not None:
            payload["evse"]["connectorId"] = connector_id
    return _command("TriggerMessage", payload)


def unlock_connector(evse_id: int, connector_id: int = 1) -> Command[UnlockStatus]:
    return _command("UnlockConnector", {"evseId": evse_id, "connectorId": connector_id})


def reset(
    kind: Literal["Immediate", "OnIdle"] = "OnIdle", evse_id: int | None = None
) -> Command[ResetStatus]:
    payload: dict[str, Any] = {"type": kind}
    if evse_id is not None:
        payload["evseId"] = evse_id
    return _command("Reset", payload)


def change_availability(
    operative: bool, evse_id: int | None = None, connector_id: int | None = None
) -> Command[AvailabilityStatus]:
    """No EVSE: the whole station."""
    payload: dict[str, Any] = {"operationalStatus": "Operative" if operative else "Inoperative"}
    if evse_id is not None:
        payload["evse"] = {"id": evse_id}
        if connector_id is not None:
            payload["evse"]["connectorId"] = connector_id
    return _command("ChangeAvailability", payload)


def set_charging_profile(
    evse_id: int, profile: Mapping[str, Any]
) -> Command[ChargingProfileStatus]:
    """``profile`` is an OCPP 2.0.1 ``chargingProfile`` (see :func:`power_limit_profile`)."""
    return _command("SetChargingProfile", {"evseId": evse_id, "chargingProfile": dict(profile)})


def power_limit_profile(
    profile_id: int, limit_w: int, *, charger_tx_id: str | None = None, stack_level: int = 0
) -> dict[str, Any]:
    """A profile that caps power at ``limit_w``: TxProfile for a transaction, else TxDefault."""
    profile: dict[str, Any] = {
        "id": profile_id,
        "stackLevel": stack_level,
        "chargingProfilePurpose": "TxProfile" if charger_tx_id else "TxDefaultProfile",
        "chargingProfileKind": "Relative",
        "chargingSchedule": [
            {
                "id": profile_id,
                "chargingRateUnit": "W",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": float(limit_w)}],
            }
        ],
    }
    if charger_tx_id:
        profile["transactionId"] = charger_tx_id
    return profile


def profile_from_16(profile: Mapping[str, Any], charger_tx_id: str | None) -> dict[str, Any]:
    """A 1.6 ``csChargingProfiles`` as a 2.0.1 ``chargingProfile`` (the transaction by the
    charger's own id), so callers that speak 1.6 profiles reach 2.0.1 stations too."""
    schedule = dict(profile["chargingSchedule"])
    schedule.setdefault("id", profile["chargingProfileId"])
    converted: dict[str, Any] = {
        "id": profile["chargingProfileId"],
        "stackLevel": profile["stackLevel"],
        "chargingProfilePurpose": profile["chargingProfilePurpose"],
        "chargingProfileKind": profile["chargingProfileKind"],
        "chargingSchedule": [schedule],
    }
    for key in ("recurrencyKind", "validFrom", "validTo"):
        if key in profile:
            converted[key] = profile[key]
    if charger_tx_id is not None:
        converted["transactionId"] = charger_tx_id
    return converted
