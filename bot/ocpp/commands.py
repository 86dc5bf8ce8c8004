"""Commands to a charger, without I/O: the request payload and the typed reading of its answer.

Each function returns a :class:`Command`; :meth:`bot.ocpp.CentralSystem.send` sends it,
checks the answer against the ``ocpp`` library's 1.6 response schema and hands back
``command.parse(answer)``. A CALLERROR or a timeout is raised as :class:`~bot.errors.OcppError`,
never returned as a value.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

__all__ = [
    "AvailabilityStatus",
    "ChargingProfileStatus",
    "Command",
    "Configuration",
    "ConfigurationKey",
    "ConfigurationStatus",
    "RemoteStatus",
    "ReservationStatus",
    "ResetStatus",
    "TriggerStatus",
    "TriggerableMessage",
    "UnlockStatus",
    "cancel_reservation",
    "change_availability",
    "change_configuration",
    "get_configuration",
    "power_limit_profile",
    "remote_start",
    "remote_stop",
    "reserve_now",
    "reset",
    "set_charging_profile",
    "trigger_message",
    "unlock_connector",
]

T = TypeVar("T")

RemoteStatus = Literal["Accepted", "Rejected"]
ConfigurationStatus = Literal["Accepted", "Rejected", "RebootRequired", "NotSupported"]
TriggerStatus = Literal["Accepted", "Rejected", "NotImplemented"]
UnlockStatus = Literal["Unlocked", "UnlockFailed", "NotSupported"]
ResetStatus = Literal["Accepted", "Rejected"]
AvailabilityStatus = Literal["Accepted", "Rejected", "Scheduled"]
ChargingProfileStatus = Literal["Accepted", "Rejected", "NotSupported"]
ReservationStatus = Literal["Accepted", "Faulted", "Occupied", "Rejected", "Unavailable"]
TriggerableMessage = Literal[
    "BootNotification",
    "DiagnosticsStatusNotification",
    "FirmwareStatusNotification",
    "Heartbeat",
    "MeterValues",
    "StatusNotification",
]


@dataclass(frozen=True)
class Command(Generic[T]):
    action: str
    payload: dict[str, Any]
    parse: Callable[[dict[str, Any]], T]
    version: str = "1.6"  # the OCPP version it is written in (bot.ocpp.v201.commands: 2.0.1)


@dataclass(frozen=True)
class ConfigurationKey:
    key: str
    value: str | None
    readonly: bool


@dataclass(frozen=True)
class Configuration:
    """A GetConfiguration answer: the keys the charger knows and the ones it does not."""

    keys: tuple[ConfigurationKey, ...]
    unknown: tuple[str, ...]

    def get(self, key: str) -> str | None:
        return next((k.value for k in self.keys if k.key == key), None)


def _status(answer: dict[str, Any]) -> Any:
    # The answer has passed its schema, so "status" is one of the enum's values.
    return answer["status"]


def remote_start(connector_id: int, id_tag: str) -> Command[RemoteStatus]:
    return Command(
        "RemoteStartTransaction", {"connectorId": connector_id, "idTag": id_tag}, _status
    )


def remote_stop(transaction_id: int) -> Command[RemoteStatus]:
    return Command("RemoteStopTransaction", {"transactionId": transaction_id}, _status)


def change_configuration(key: str, value: str) -> Command[ConfigurationStatus]:
    return Command("ChangeConfiguration", {"key": key, "value": value}, _status)


def get_configuration(keys: Sequence[str] = ()) -> Command[Configuration]:
    return Command("GetConfiguration", {"key": list(keys)} if keys else {}, _configuration)


def _configuration(answer: dict[str, Any]) -> Configuration:
    return Configuration(
        keys=tuple(
            ConfigurationKey(k["key"], k.get("value"), bool(k.get("readonly", False)))
            for k in answer.get("configurationKey", [])
        ),
        unknown=tuple(answer.get("unknownKey", [])),
    )


def trigger_message(
    message: TriggerableMessage, connector_id: int | None = None
) -> Command[TriggerStatus]:
    payload: dict[str, Any] = {"requestedMessage": message}
    if connector_id is not None:
        payload["connectorId"] = connector_id
    return Command("TriggerMessage", payload, _status)


def unlock_connector(connector_id: int) -> Command[UnlockStatus]:
    return Command("UnlockConnector", {"connectorId": connector_id}, _status)


def reset(kind: Literal["Soft", "Hard"] = "Soft") -> Command[ResetStatus]:
    return Command("Reset", {"type": kind}, _status)


def change_availability(connector_id: int, operative: bool) -> Command[AvailabilityStatus]:
    """Connector 0 is the whole charger."""
    kind = "Operative" if operative else "Inoperative"
    return Command("ChangeAvailability", {"connectorId": connector_id, "type": kind}, _status)


def set_charging_profile(
    connector_id: int, profile: Mapping[str, Any]
) -> Command[ChargingProfileStatus]:
    """``profile`` is an OCPP 1.6 ``csChargingProfiles`` object, e.g. a power limit."""
    return Command(
        "SetChargingProfile",
        {"connectorId": connector_id, "csChargingProfiles": dict(profile)},
        _status,
    )


def power_limit_profile(
    profile_id: int, limit_w: int, *, transaction_id: int | None = None, stack_level: int = 0
) -> dict[str, Any]:
    """A profile that caps power at ``limit_w``: TxProfile for a transaction, else TxDefault."""
    profile: dict[str, Any] = {
        "chargingProfileId": profile_id,
        "stackLevel": stack_level,
        "chargingProfilePurpose": "TxProfile" if transaction_id is not None else "TxDefaultProfile",
        "chargingProfileKind": "Relative",
        "chargingSchedule": {
            "chargingRateUnit": "W",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": float(limit_w)}],
        },
    }
    if transaction_id is not None:
        profile["transactionId"] = transaction_id
    return profile


def reserve_now(
    connector_id: int, expiry_date: str, id_tag: str, reservation_id: int
) -> Command[ReservationStatus]:
    """Hold a connector for ``id_tag`` until ``expiry_date`` (ISO 8601). The same
    ``reservation_id`` again replaces that reservation (OCPP 1.6 section 5.13)."""
    payload = {
        "connectorId": connector_id,
        "expiryDate": expiry_date,
        "idTag": id_tag,
        "reservationId": reservation_id,
    }
    return Command("ReserveNow", payload, _status)


def cancel_reservation(reservation_id: int) -> Command[RemoteStatus]:
    return Command("CancelReservation", {"reservationId": reservation_id}, _status)
