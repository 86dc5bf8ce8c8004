from __future__ import annotations

from typing import Any

import pytest

from bot.ocpp import commands
from bot.ocpp.frames import MessageType, schema_error


@pytest.mark.parametrize(
    "command",
    [
        commands.remote_start(1, "TAG"),
        commands.remote_stop(7),
        commands.change_configuration("MeterValueSampleInterval", "10"),
        commands.get_configuration(),
        commands.get_configuration(["HeartbeatInterval"]),
        commands.trigger_message("StatusNotification", 1),
        commands.trigger_message("Heartbeat"),
        commands.unlock_connector(1),
        commands.reset("Hard"),
        commands.change_availability(0, operative=False),
        commands.set_charging_profile(1, commands.power_limit_profile(3, 7400, transaction_id=9)),
        commands.set_charging_profile(0, commands.power_limit_profile(4, 11000)),
        commands.reserve_now(1, "2026-12-02T10:15:00.000Z", "ZCABCDEFGHIJKLMNOPQR", 7),
        commands.cancel_reservation(7),
    ],
)
def test_every_request_fits_its_schema(command: commands.Command[Any]) -> None:
    assert schema_error(MessageType.CALL, command.action, command.payload) is None


def test_answers_are_read_into_typed_results() -> None:
    assert commands.reset().parse({"status": "Rejected"}) == "Rejected"
    configuration = commands.get_configuration().parse(
        {
            "configurationKey": [
                {"key": "A", "readonly": True, "value": "1"},
                {"key": "B", "readonly": False},
            ],
            "unknownKey": ["C"],
        }
    )
    assert configuration.get("A") == "1" and configuration.get("B") is None
    assert configuration.keys[0].readonly and configuration.unknown == ("C",)
    assert commands.get_configuration().parse({}) == commands.Configuration((), ())


def test_power_limit_profile_purpose() -> None:
    assert commands.power_limit_profile(1, 5000)["chargingProfilePurpose"] == "TxDefaultProfile"
    tx = commands.power_limit_profile(1, 5000, transaction_id=3)
    assert tx["chargingProfilePurpose"] == "TxProfile" and tx["transactionId"] == 3


def test_reservation_commands() -> None:
    reserve = commands.reserve_now(2, "2026-12-02T10:15:00.000Z", "ZCTAG", 42)
    assert reserve.action == "ReserveNow"
    assert reserve.payload == {
        "connectorId": 2,
        "expiryDate": "2026-12-02T10:15:00.000Z",
        "idTag": "ZCTAG",
        "reservationId": 42,
    }
    assert reserve.parse({"status": "Occupied"}) == "Occupied"
    cancel = commands.cancel_reservation(42)
    assert (cancel.action, cancel.payload) == ("CancelReservation", {"reservationId": 42})
    assert schema_error(MessageType.CALLRESULT, "ReserveNow", {"status": "Faulted"}) is None
    assert schema_error(MessageType.CALLRESULT, "ReserveNow", {"status": "Maybe"}) is not None


def test_reservation_commands_in_201_words() -> None:
    from bot.ocpp.v201 import frames as frames201
    from bot.ocpp.v201 import reservations

    reserve = reservations.reserve_now(1, "2026-12-02T10:15:00.000Z", "ZCTAG", 42)
    assert (reserve.action, reserve.version) == ("ReserveNow", "2.0.1")
    assert reserve.payload["idToken"] == {"idToken": "ZCTAG", "type": "Central"}
    assert (reserve.payload["id"], reserve.payload["evseId"]) == (42, 1)
    cancel = reservations.cancel_reservation(42)
    assert cancel.payload == {"reservationId": 42}
    for command in (reserve, cancel):
        assert frames201.schema_error(MessageType.CALL, command.action, command.payload) is None
