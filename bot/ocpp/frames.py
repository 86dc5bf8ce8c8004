"""OCPP-J 1.6 framing without I/O: text frame in, typed message (or the CALLERROR to send) out.

The ``ocpp`` library stays silent on frames it cannot unpack and uses OCPP 2.0 error
codes (``FormatViolation``) and swapped meanings for ``NotImplemented``/``NotSupported``.
This module answers with the OCPP-J 1.6 table (section 4.2.3):

======================== ==============================================================
NotImplemented           the action is not an OCPP 1.6 action at all
NotSupported             an OCPP 1.6 action that a central system does not take
ProtocolError            the frame is incomplete (a CALL without its payload)
FormationViolation       not JSON, not an OCPP-J array, wrong element types, unknown
                         fields, over the size limit, or a binary frame
TypeConstraintViolation  a field has the wrong JSON type
PropertyConstraintViolation  a field has a value outside its enum, length, format or
                         range (integers beyond 32 bits, ``inf``, lone surrogates: see
                         :mod:`bot.ocpp.values`), or names a connector not configured
OccurenceConstraintViolation a required field is missing, or an array has too few items
InternalError            we failed while handling a valid CALL
======================== ==============================================================

When the unique id cannot be read, the CALLERROR carries ``"-1"`` (OCPP-J 2.0.1 made that
the rule; 1.6 is silent).
"""

from __future__ import annotations

import decimal
import json
import re
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import Any

from ocpp.messages import get_validator

from bot.ocpp.values import loads, storable, value_error

__all__ = [
    "UNKNOWN_ID",
    "Call",
    "CallError",
    "CallResult",
    "ErrorCode",
    "FrameError",
    "MessageType",
    "encode_call",
    "encode_error",
    "encode_result",
    "parse_frame",
    "schema_error",
    "unique_id_of",
]

UNKNOWN_ID = "-1"


class MessageType(IntEnum):
    CALL = 2
    CALLRESULT = 3
    CALLERROR = 4


class ErrorCode(StrEnum):
    NOT_IMPLEMENTED = "NotImplemented"
    NOT_SUPPORTED = "NotSupported"
    INTERNAL_ERROR = "InternalError"
    PROTOCOL_ERROR = "ProtocolError"
    SECURITY_ERROR = "SecurityError"
    FORMATION_VIOLATION = "FormationViolation"
    PROPERTY_CONSTRAINT_VIOLATION = "PropertyConstraintViolation"
    OCCURENCE_CONSTRAINT_VIOLATION = "OccurenceConstraintViolation"  # sic, as in 1.6
    TYPE_CONSTRAINT_VIOLATION = "TypeConstraintViolation"
    GENERIC_ERROR = "GenericError"


@dataclass(frozen=True)
class Call:
    unique_id: str
    action: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class CallResult:
    unique_id: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class CallError:
    unique_id: str
    code: str
    description: str
    details: dict[str, Any] = field(default_factory=dict)


class FrameError(Exception):
    """A frame that cannot be taken as it is; ``reply`` is False for broken responses."""

    def __init__(
        self,
        code: str,  # an ErrorCode here; OCPP 2.0.1's own names in bot.ocpp.v201.frames
        description: str,
        unique_id: str = UNKNOWN_ID,
        *,
        action: str | None = None,
        reply: bool = True,
    ) -> None:
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description
        self.unique_id = unique_id
        self.action = action
        self.reply = reply


def parse_frame(text: str) -> Call | CallResult | CallError:
    """Parse one OCPP-J text frame. Raises :class:`FrameError` with the code to answer."""
    try:
        message = loads(text)
    except (ValueError, RecursionError):
        # The id can often still be read at the start: the charger gets its answer.
        raise FrameError(
            ErrorCode.FORMATION_VIOLATION, "not valid JSON", unique_id_of(text)
        ) from None
    if not isinstance(message, list) or not message:
        raise FrameError(ErrorCode.FORMATION_VIOLATION, "an OCPP-J message is a JSON array")
    kind = message[0]
    unique_id = message[1] if len(message) > 1 and isinstance(message[1], str) else UNKNOWN_ID
    if isinstance(kind, bool) or kind not in (2, 3, 4):
        raise FrameError(
            ErrorCode.FORMATION_VIOLATION, f"unknown MessageTypeId {kind!r}", unique_id
        )
    if len(message) < 2 or not isinstance(message[1], str):
        raise FrameError(ErrorCode.FORMATION_VIOLATION, "the UniqueId must be a string")
    if kind == MessageType.CALL:
        return _call(message, unique_id)
    if kind == MessageType.CALLRESULT:
        return call_result(message, unique_id, shape_code=ErrorCode.FORMATION_VIOLATION)
    return _call_error(message, unique_id)


def call_result(message: list[Any], unique_id: str, *, shape_code: str) -> CallResult:
    """A CALLRESULT frame, in either protocol (``shape_code`` is its word for a malformed
    frame). Never answered: a reply to a reply could loop."""
    if len(message) != 3 or not isinstance(message[2], dict):
        raise FrameError(shape_code, "a CALLRESULT is [3, id, {payload}]", unique_id, reply=False)
    invalid = value_error(message[2])
    if invalid is not None:
        raise FrameError(ErrorCode.PROPERTY_CONSTRAINT_VIOLATION, invalid, unique_id, reply=False)
    return CallResult(unique_id, message[2])


def _call(message: list[Any], unique_id: str) -> Call:
    if len(message) < 4:
        raise FrameError(
            ErrorCode.PROTOCOL_ERROR, "a CALL is [2, id, action, {payload}]", unique_id
        )
    if len(message) > 4 or not isinstance(message[2], str) or not isinstance(message[3], dict):
        raise FrameError(
            ErrorCode.FORMATION_VIOLATION, "a CALL is [2, id, action, {payload}]", unique_id
        )
    action = message[2]
    invalid = value_error(message[3])
    if invalid is not None:
        raise FrameError(
            ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
            f"{storable(action)} {invalid}",
            unique_id,
            action=action,
        )
    return Call(unique_id, action, message[3])


def _call_error(message: list[Any], unique_id: str) -> CallError:
    # Quirk: some chargers leave out the details object; the rest must be there.
    if len(message) not in (4, 5) or not all(isinstance(m, str) for m in message[2:4]):
        raise FrameError(
            ErrorCode.FORMATION_VIOLATION,
            "a CALLERROR is [4, id, code, description, {details}]",
            unique_id,
            reply=False,
        )
    details = message[4] if len(message) == 5 and isinstance(message[4], dict) else {}
    if value_error(details) is not None:
        details = {}  # only ever logged; a broken details object does not void the answer
    return CallError(unique_id, storable(message[2]), storable(message[3]), details)


_UNIQUE_ID_PREFIX = re.compile(r'^\s*\[\s*[234]\s*,\s*"([^"\\]{1,64})"')


def unique_id_of(text: str) -> str:
    """The unique id at the start of a frame too large to parse, or ``"-1"``."""
    match = _UNIQUE_ID_PREFIX.match(text[:200])
    return match.group(1) if match else UNKNOWN_ID


def encode_call(call: Call) -> str:
    return _dumps([MessageType.CALL, call.unique_id, call.action, call.payload])


def encode_result(unique_id: str, payload: dict[str, Any]) -> str:
    return _dumps([MessageType.CALLRESULT, unique_id, payload])


def encode_error(unique_id: str, code: str, description: str) -> str:
    # The description is at most 255 characters in OCPP 2.0.1; 1.6 chargers cope with that.
    return _dumps([MessageType.CALLERROR, unique_id, code, description[:255], {}])


def _dumps(message: list[Any]) -> str:
    # ASCII with escapes: a lone surrogate echoed from a charger's unique id cannot be
    # encoded as UTF-8 and would make websockets drop the connection inside send().
    return json.dumps(message, separators=(",", ":"), ensure_ascii=True)


# Which OCPP-J code a JSON-schema failure becomes (see the table in the module docstring).
_SCHEMA_CODES = {
    "type": ErrorCode.TYPE_CONSTRAINT_VIOLATION,
    "required": ErrorCode.OCCURENCE_CONSTRAINT_VIOLATION,
    "minItems": ErrorCode.OCCURENCE_CONSTRAINT_VIOLATION,
    "maxItems": ErrorCode.OCCURENCE_CONSTRAINT_VIOLATION,
    "additionalProperties": ErrorCode.FORMATION_VIOLATION,
}
# SetChargingProfile limits have "multipleOf 0.1": floats fail that, decimals do not.
_DECIMAL_ACTIONS = {
    (MessageType.CALL, "SetChargingProfile"),
    (MessageType.CALL, "RemoteStartTransaction"),
}


def schema_error(kind: MessageType, action: str, payload: dict[str, Any]) -> FrameError | None:
    """Check ``payload`` against the ``ocpp`` library's 1.6 schema; the error, or None."""
    if (kind, action) in _DECIMAL_ACTIONS:
        validator = get_validator(kind, action, "1.6", parse_float=decimal.Decimal)
        payload = json.loads(json.dumps(payload), parse_float=decimal.Decimal)
    else:
        validator = get_validator(kind, action, "1.6")
    # The library's validators are jsonschema Draft4Validators; the first error decides.
    error = next(iter(validator.iter_errors(payload)), None)
    if error is None:
        return None
    code = _SCHEMA_CODES.get(str(error.validator), ErrorCode.PROPERTY_CONSTRAINT_VIOLATION)
    where = "/".join(str(p) for p in error.absolute_path) or "payload"
    return FrameError(code, f"{action} {where}: {error.message}", action=action)
