from __future__ import annotations

import json

import pytest

from bot.ocpp.frames import (
    Call,
    CallError,
    CallResult,
    ErrorCode,
    FrameError,
    MessageType,
    encode_call,
    encode_error,
    encode_result,
    parse_frame,
    schema_error,
    unique_id_of,
)


def test_parses_the_three_message_types() -> None:
    assert parse_frame('[2,"a","Heartbeat",{}]') == Call("a", "Heartbeat", {})
    assert parse_frame('[3,"a",{"x":1}]') == CallResult("a", {"x": 1})
    assert parse_frame('[4,"a","NotSupported","no",{}]') == CallError("a", "NotSupported", "no")
    # Quirk: a CALLERROR without its details object.
    assert parse_frame('[4,"a","GenericError","x"]') == CallError("a", "GenericError", "x")


@pytest.mark.parametrize(
    ("text", "code", "unique_id"),
    [
        ("not json", ErrorCode.FORMATION_VIOLATION, "-1"),
        ('{"a": 1}', ErrorCode.FORMATION_VIOLATION, "-1"),
        ("[]", ErrorCode.FORMATION_VIOLATION, "-1"),
        ('[9,"x","Heartbeat",{}]', ErrorCode.FORMATION_VIOLATION, "x"),
        ('[true,"x","Heartbeat",{}]', ErrorCode.FORMATION_VIOLATION, "x"),
        ('[2,17,"Heartbeat",{}]', ErrorCode.FORMATION_VIOLATION, "-1"),
        ('[2,"x","Heartbeat"]', ErrorCode.PROTOCOL_ERROR, "x"),
        ('[2,"x","Heartbeat",{},{}]', ErrorCode.FORMATION_VIOLATION, "x"),
        ('[2,"x","Heartbeat",[]]', ErrorCode.FORMATION_VIOLATION, "x"),
        ('[2,"x",5,{}]', ErrorCode.FORMATION_VIOLATION, "x"),
        ("[" * 100_000, ErrorCode.FORMATION_VIOLATION, "-1"),
    ],
)
def test_malformed_frames_get_the_16_code(text: str, code: ErrorCode, unique_id: str) -> None:
    with pytest.raises(FrameError) as info:
        parse_frame(text)
    assert (info.value.code, info.value.unique_id, info.value.reply) == (code, unique_id, True)


@pytest.mark.parametrize("text", ['[3,"x"]', '[3,"x",[]]', '[4,"x",1,2]', '[4,"x","c"]'])
def test_broken_answers_are_never_answered(text: str) -> None:
    with pytest.raises(FrameError) as info:
        parse_frame(text)
    assert info.value.reply is False and info.value.unique_id == "x"


def test_encodings_are_compact_ocpp_j() -> None:
    assert encode_call(Call("1", "Reset", {"type": "Soft"})) == '[2,"1","Reset",{"type":"Soft"}]'
    assert encode_result("1", {}) == '[3,"1",{}]'
    error = json.loads(encode_error("1", "GenericError", "x" * 300))
    assert error[:3] == [4, "1", "GenericError"] and len(error[3]) == 255 and error[4] == {}


def test_unique_id_of_a_frame_too_big_to_parse() -> None:
    assert unique_id_of('[2, "abc-1", "MeterValues", {' + "x" * 10_000) == "abc-1"
    assert unique_id_of("garbage") == "-1"


@pytest.mark.parametrize(
    ("action", "payload", "code"),
    [
        (
            "BootNotification",
            {"chargePointVendor": 5, "chargePointModel": "m"},
            "TypeConstraintViolation",
        ),
        ("BootNotification", {"chargePointModel": "m"}, "OccurenceConstraintViolation"),
        (
            "BootNotification",
            {"chargePointVendor": "v" * 21, "chargePointModel": "m"},
            "PropertyConstraintViolation",
        ),
        (
            "BootNotification",
            {"chargePointVendor": "v", "chargePointModel": "m", "x": 1},
            "FormationViolation",
        ),
        ("DataTransfer", {"vendorId": "v", "messageId": "m" * 51}, "PropertyConstraintViolation"),
    ],
)
def test_schema_failures_map_to_16_codes(
    action: str, payload: dict[str, object], code: str
) -> None:
    error = schema_error(MessageType.CALL, action, payload)  # type: ignore[arg-type]
    assert error is not None and error.code == code


def test_valid_payloads_pass_and_profiles_with_decimals_too() -> None:
    assert schema_error(MessageType.CALL, "Heartbeat", {}) is None
    profile = {
        "connectorId": 1,
        "csChargingProfiles": {
            "chargingProfileId": 1,
            "stackLevel": 0,
            "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Relative",
            "chargingSchedule": {
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 21.4}],
            },
        },
    }
    assert schema_error(MessageType.CALL, "SetChargingProfile", profile) is None
