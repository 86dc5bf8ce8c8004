"""Values an OCPP-J frame may carry, whatever the protocol version; no I/O.

``json.loads`` accepts more than a charger may send us, and each excess used to end in
an InternalError or a dropped connection further down:

- a lone surrogate escape (``"\\ud800"``) is valid JSON syntax but no Unicode character:
  it cannot be written to SQLite and a reply that echoes it cannot be encoded as UTF-8;
- integers of any size, while OCPP 1.6 and 2.0.1 define ``integer`` as 32 bits (SQLite
  stops at 64 and raised OverflowError);
- ``1e400`` (which becomes ``inf``) and the non-JSON constants ``NaN``/``Infinity``.

:func:`loads` refuses the constants (FormationViolation: not JSON), :func:`value_error`
walks a parsed payload and names the first value out of range (PropertyConstraintViolation,
the OCPP-J code for a value outside what its type allows). Both protocol versions use them
before their own schemas run.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

__all__ = ["INT32_MAX", "INT32_MIN", "has_surrogate", "loads", "storable", "value_error"]

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
_SURROGATE = re.compile("[\ud800-\udfff]")


class NotJson(ValueError):
    """``NaN``, ``Infinity`` or ``-Infinity``: accepted by Python, not by RFC 8259."""


def _refuse_constant(name: str) -> Any:
    raise NotJson(f"{name} is not JSON")


def loads(text: str) -> Any:
    """``json.loads`` without the non-standard constants. Raises ValueError."""
    return json.loads(text, parse_constant=_refuse_constant)


def has_surrogate(text: str) -> bool:
    return not text.isascii() and _SURROGATE.search(text) is not None


def storable(text: str) -> str:
    """``text`` with lone surrogates written as ``\\udXXX`` escapes, so UTF-8 can hold it."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8") if has_surrogate(text) else text


def value_error(payload: Any) -> str | None:
    """What is out of range in ``payload`` (a description naming the path), or None.

    The walk is iterative: a frame within the size limit can still nest thousands deep.
    """
    stack: list[tuple[str, Any]] = [("", payload)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                if has_surrogate(key):
                    return f"{path or 'payload'} has a key that is not Unicode text"
                stack.append((f"{path}/{key}" if path else key, item))
        elif isinstance(value, list):
            stack.extend((f"{path}/{index}", item) for index, item in enumerate(value))
        elif isinstance(value, str):
            if has_surrogate(value):
                return f"{path or 'payload'} is not Unicode text (a lone surrogate escape)"
        elif isinstance(value, bool):
            continue
        elif isinstance(value, int):
            if not INT32_MIN <= value <= INT32_MAX:
                return f"{path or 'payload'} is outside the 32-bit integer range"
        elif isinstance(value, float) and not math.isfinite(value):
            return f"{path or 'payload'} is not a finite number"
    return None
