"""OCPP-J 2.0.1 framing without I/O: the same three message types as 1.6, its own error names.

The frame layout, the dataclasses and the encoders are shared with 1.6
(:mod:`bot.ocpp.frames`); what differs is which code a refusal carries (OCPP 2.0.1 part 4,
section 4.3):

============================== =========================================================
RpcFrameworkError              not JSON, not an array, no readable MessageId, a CALL
                               without its action: not an RPC message at all
MessageTypeNotSupported        a MessageTypeId other than 2, 3, 4
FormatViolation                the payload is not an object, unknown fields, too large
TypeConstraintViolation        a field has the wrong JSON type
PropertyConstraintViolation    a value outside its enum, length or format
OccurrenceConstraintViolation  a required field is missing, an array too short or long
NotImplemented / NotSupported  an unknown action / an action a CSMS does not take
InternalError                  we failed while handling a valid CALL
============================== =========================================================

1.6 spells two of them differently (``FormationViolation``, ``OccurenceConstraintViolation``);
:func:`code_of` translates the pump's own 1.6-named refusals.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from ocpp.messages import get_validator

from bot.ocpp.connection import Dialect
from bot.ocpp.frames import (
    UNKNOWN_ID,
    Call,
    CallError,
    CallResult,
    FrameError,
    MessageType,
    call_result,
)
from bot.ocpp.values import loads, storable, value_error

__all__ = ["DIALECT", "VERSION", "ErrorCode", "code_of", "parse_frame", "schema_error"]

VERSION = "2.0.1"
MAX_ID_CHARS = 36  # OCPP-J 2.0.1: a MessageId is at most 36 characters


class ErrorCode(StrEnum):
    FORMAT_VIOLATION = "FormatViolation"
    GENERIC_ERROR = "GenericError"
    INTERNAL_ERROR = "InternalError"
    MESSAGE_TYPE_NOT_SUPPORTED = "MessageTypeNotSupported"
    NOT_IMPLEMENTED = "NotImplemented"
    NOT_SUPPORTED = "NotSupported"
    OCCURRENCE_CONSTRAINT_VIOLATION = "OccurrenceConstraintViolation"
    PROPERTY_CONSTRAINT_VIOLATION = "PropertyConstraintViolation"
    PROTOCOL_ERROR = "ProtocolError"
    RPC_FRAMEWORK_ERROR = "RpcFrameworkError"
    SECURITY_ERROR = "SecurityError"
    TYPE_CONSTRAINT_VIOLATION = "TypeConstraintViolation"


_FROM_16 = {
    "FormationViolation": ErrorCode.FORMAT_VIOLATION,
    "OccurenceConstraintViolation": ErrorCode.OCCURRENCE_CONSTRAINT_VIOLATION,
}


def code_of(code: str) -> str:
    """The 2.0.1 name of an OCPP-J error code (the 1.6 spellings translated)."""
    return _FROM_16.get(code, code)


def parse_frame(text: str) -> Call | CallResult | CallError:
    """Parse one OCPP-J 2.0.1 text frame. Raises :class:`FrameError` with the code to answer."""
    try:
        message = loads(text)  # NaN and Infinity are not JSON either
    except (ValueError, RecursionError):
        raise FrameError(ErrorCode.RPC_FRAMEWORK_ERROR, "not valid JSON") from None
    if not isinstance(message, list) or not message:
        raise FrameError(ErrorCode.RPC_FRAMEWORK_ERROR, "an OCPP-J message is a JSON array")
    readable = len(message) > 1 and isinstance(message[1], str) and message[1] != ""
    unique_id = message[1] if readable and len(message[1]) <= MAX_ID_CHARS else UNKNOWN_ID
    kind = message[0]
    if isinstance(kind, bool) or kind not in (2, 3, 4):
        raise FrameError(
            ErrorCode.MESSAGE_TYPE_NOT_SUPPORTED, f"unknown MessageTypeId {kind!r}", unique_id
        )
    if unique_id == UNKNOWN_ID:
        raise FrameError(
            ErrorCode.RPC_FRAMEWORK_ERROR,
            f"the MessageId must be a string of 1-{MAX_ID_CHARS} characters",
            reply=kind == MessageType.CALL,
        )
    if kind == MessageType.CALL:
        return _call(message, unique_id)
    if kind == MessageType.CALLRESULT:
        return call_result(message, unique_id, shape_code=ErrorCode.FORMAT_VIOLATION)
    if len(message) != 5 or not all(isinstance(m, str) for m in message[2:4]):
        raise FrameError(
            ErrorCode.FORMAT_VIOLATION,
            "a CALLERROR is [4, id, code, description, {details}]",
            unique_id,
            reply=False,
        )
    details = message[4] if isinstance(message[4], dict) else {}
    if value_error(details) is not None:
        details = {}  # only ever logged; a broken details object does not void the answer
    return CallError(unique_id, storable(message[2]), storable(message[3]), details)


def _call(message: list[Any], unique_id: str) -> Call:
    if len(message) != 4 or not isinstance(message[2], str) or not message[2]:
        raise FrameError(
            ErrorCode.RPC_FRAMEWORK_ERROR, "a CALL is [2, id, action, {payload}]", unique_id
        )
    if not isinstance(message[3], dict):
        raise FrameError(ErrorCode.FORMAT_VIOLATION, "the payload must be an object", unique_id)
    # 32-bit integers, finite numbers, Unicode text: the same rules as 1.6 (bot.ocpp.values).
    invalid = value_error(message[3])
    if invalid is not None:
        raise FrameError(
            ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
            f"{storable(message[2])} {invalid}",
            unique_id,
            action=message[2],
        )
    return Call(unique_id, message[2], message[3])


_SCHEMA_CODES = {
    "type": ErrorCode.TYPE_CONSTRAINT_VIOLATION,
    "required": ErrorCode.OCCURRENCE_CONSTRAINT_VIOLATION,
    "minItems": ErrorCode.OCCURRENCE_CONSTRAINT_VIOLATION,
    "maxItems": ErrorCode.OCCURRENCE_CONSTRAINT_VIOLATION,
    "additionalProperties": ErrorCode.FORMAT_VIOLATION,
}


def schema_error(kind: MessageType, action: str, payload: dict[str, Any]) -> FrameError | None:
    """Check ``payload`` against the ``ocpp`` library's 2.0.1 schema; the error, or None."""
    try:
        validator = get_validator(kind, action, VERSION)
    except OSError:  # no such schema: not an OCPP 2.0.1 action
        return FrameError(
            ErrorCode.NOT_IMPLEMENTED, f"{action!r} is not an OCPP 2.0.1 action", action=action
        )
    # The library's validators are jsonschema Draft4Validators; the first error decides.
    error = next(iter(validator.iter_errors(payload)), None)
    if error is None:
        return None
    code = _SCHEMA_CODES.get(str(error.validator), ErrorCode.PROPERTY_CONSTRAINT_VIOLATION)
    where = "/".join(str(p) for p in error.absolute_path) or "payload"
    return FrameError(code, f"{action} {where}: {error.message}", action=action)


DIALECT = Dialect(VERSION, parse_frame, code_of)
