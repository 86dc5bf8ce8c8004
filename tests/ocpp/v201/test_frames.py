"""OCPP-J 2.0.1 framing: each malformed frame gets the 2.0.1 error name."""

from __future__ import annotations

import pytest

from bot.ocpp.frames import Call, CallError, CallResult, FrameError, MessageType
from bot.ocpp.v201.frames import code_of, parse_frame, schema_error


@pytest.mark.parametrize(
    ("text", "code", "unique_id"),
    [
        ("not json", "RpcFrameworkError", "-1"),
        ("{}", "RpcFrameworkError", "-1"),
        ("[]", "RpcFrameworkError", "-1"),
        ('[7, "a1", "Heartbeat", {}]', "MessageTypeNotSupported", "a1"),
        ('[true, "a1", "Heartbeat", {}]', "MessageTypeNotSupported", "a1"),
        ('[2, 17, "Heartbeat", {}]', "RpcFrameworkError", "-1"),
        ('[2, "' + "x" * 37 + '", "Heartbeat", {}]', "RpcFrameworkError", "-1"),
        ('[2, "a1", "Heartbeat"]', "RpcFrameworkError", "a1"),
        ('[2, "a1", 5, {}]', "RpcFrameworkError", "a1"),
        ('[2, "a1", "Heartbeat", []]', "FormatViolation", "a1"),
        ('[2, "a1", "Heartbeat", {"n": NaN}]', "RpcFrameworkError", "-1"),
        ('[2, "a1", "MeterValues", {"evseId": 4294967296}]', "PropertyConstraintViolation", "a1"),
        ('[2, "a1", "Authorize", {"x": "\\ud800"}]', "PropertyConstraintViolation", "a1"),
    ],
)
def test_malformed_calls(text: str, code: str, unique_id: str) -> None:
    with pytest.raises(FrameError) as info:
        parse_frame(text)
    assert (info.value.code, info.value.unique_id, info.value.reply) == (code, unique_id, True)


def test_broken_answers_are_never_answered() -> None:
    for text in ('[3, "a1"]', '[4, "a1", "GenericError"]', "[3, 5, {}]"):
        with pytest.raises(FrameError) as info:
            parse_frame(text)
        assert info.value.reply is False


def test_good_frames() -> None:
    assert parse_frame('[2, "a1", "Heartbeat", {}]') == Call("a1", "Heartbeat", {})
    assert parse_frame('[3, "a1", {"x": 1}]') == CallResult("a1", {"x": 1})
    assert parse_frame('[4, "a1", "NotSupported", "no", {}]') == CallError(
        "a1", "NotSupported", "no", {}
    )


def test_1_6_spellings_are_translated() -> None:
    assert code_of("FormationViolation") == "FormatViolation"
    assert code_of("OccurenceConstraintViolation") == "OccurrenceConstraintViolation"
    assert code_of("GenericError") == "GenericError"


def test_schema_errors_carry_2_0_1_codes() -> None:
    boot = {"reason": "PowerUp", "chargingStation": {"model": "M", "vendorName": "V"}}
    assert schema_error(MessageType.CALL, "BootNotification", boot) is None
    missing = schema_error(MessageType.CALL, "BootNotification", {"reason": "PowerUp"})
    assert missing is not None and missing.code == "OccurrenceConstraintViolation"
    wrong = schema_error(MessageType.CALL, "BootNotification", boot | {"reason": "Sneeze"})
    assert wrong is not None and wrong.code == "PropertyConstraintViolation"
    extra = schema_error(MessageType.CALL, "Heartbeat", {"extra": 1})
    assert extra is not None and extra.code == "FormatViolation"
    unknown = schema_error(MessageType.CALL, "StartTransaction", {})
    assert unknown is not None and unknown.code == "NotImplemented"
