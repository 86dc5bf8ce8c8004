"""Seeded OCPP-J 1.6 frames a broken or hostile charger might send, and what must hold.

:func:`frames` mutates valid CALLs the way the outside tests of issue 13 did: lone
surrogate escapes in any string (and in the unique id), integers beyond 64 bits, floats
beyond range and the non-JSON constants, connectors that are not configured, statuses
outside the enum, negative, falling and absurd energy registers, missing and extra keys,
cut-off JSON and binary frames. Used by the fuzz tier of the tests (a few thousand
frames) and by ``bench.ocpp_fuzz`` (many more).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["STATUSES", "Frame", "frames"]

STATUSES = (
    "Available",
    "Preparing",
    "Charging",
    "SuspendedEVSE",
    "SuspendedEV",
    "Finishing",
    "Reserved",
    "Unavailable",
    "Faulted",
)
_BAD_STRINGS = ("\ud800", "a\udfffb", "%s%s%n", "", "A" * 300, "\x00", "Occupied", "☃")
_BAD_NUMBERS: tuple[Any, ...] = (
    2**64 + 1,
    -(2**63) - 1,
    2**31,
    -(2**31) - 1,
    9007199254740993,
    -1,
    1e300,
    -1e300,
    1.5,
    "12",
    "1e400",
    True,
    None,
)
_RAW_CONSTANTS = ("1e400", "-1e400", "NaN", "Infinity", "-Infinity", "1" * 400)
_CONNECTORS = (0, 1, 1, 1, 2, 3, 12, 54592, 2**31 - 1, -(2**31) - 1, 9007199254740993, -1)
_REGISTERS = ("-5", "-0.001", "9e15", "1e400", "0", "999", "1000", "1500", "50000", "1,5")


@dataclass(frozen=True)
class Frame:
    data: str | bytes
    unique_id: str  # the id the answer must carry ...
    action: str
    readable: bool = True  # ... or, when False (not JSON), that id or "-1"


def _iso(rng: random.Random) -> str:
    return f"2025-01-01T10:{rng.randrange(60):02d}:{rng.randrange(60):02d}Z"


def _template(rng: random.Random, action: str, transactions: list[int]) -> dict[str, Any]:
    transaction = rng.choice(transactions) if transactions else rng.randrange(1, 50)
    reading = {
        "timestamp": _iso(rng),
        "sampledValue": [
            {"value": rng.choice(_REGISTERS), "unit": rng.choice(("Wh", "kWh"))},
            {"value": "11000", "measurand": "Power.Active.Import", "unit": "W"},
        ],
    }
    templates: dict[str, dict[str, Any]] = {
        "Heartbeat": {},
        "BootNotification": {"chargePointVendor": "Fuzz", "chargePointModel": "F1"},
        "Authorize": {"idTag": "TAG-OK"},
        "DataTransfer": {"vendorId": "fuzz", "data": "x"},
        "StatusNotification": {
            "connectorId": rng.choice((0, 1, 2)),
            "status": rng.choice(STATUSES),
            "errorCode": "NoError",
            "timestamp": _iso(rng),
        },
        "StartTransaction": {
            "connectorId": rng.choice((1, 2)),
            "idTag": rng.choice(("TAG-OK", "TAG-OK", "OTHER")),
            "meterStart": 1000,
            "timestamp": _iso(rng),
        },
        "StopTransaction": {
            "transactionId": transaction,
            "meterStop": rng.choice((1500, 900, 1000, 2000)),
            "timestamp": _iso(rng),
            "reason": "Local",
        },
        "MeterValues": {
            "connectorId": rng.choice((0, 1, 2)),
            "transactionId": transaction,
            "meterValue": [reading],
        },
    }
    return templates[action]


_ACTIONS = (
    "Heartbeat",
    "BootNotification",
    "Authorize",
    "StatusNotification",
    "StartTransaction",
    "StopTransaction",
    "MeterValues",
    "MeterValues",
    "DataTransfer",
)


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _leaves(item, (*path, index))
    else:
        yield path, value


def _set(payload: Any, path: tuple[Any, ...], value: Any) -> None:
    for step in path[:-1]:
        payload = payload[step]
    payload[path[-1]] = value


def _mutate(rng: random.Random, action: str, payload: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    leaves = list(_leaves(payload))
    choice = rng.randrange(10)
    if choice == 0 and leaves:
        strings = [p for p, v in leaves if isinstance(v, str)]
        if strings:
            _set(payload, rng.choice(strings), rng.choice(_BAD_STRINGS))
    elif choice == 1 and leaves:
        _set(payload, rng.choice(leaves)[0], rng.choice(_BAD_NUMBERS))
    elif choice == 2 and "connectorId" in payload:
        payload["connectorId"] = rng.choice(_CONNECTORS)
    elif choice == 3 and "status" in payload:
        payload["status"] = rng.choice(_BAD_STRINGS)
    elif choice == 4 and payload:
        del payload[rng.choice(sorted(payload))]
    elif choice == 5:
        payload[rng.choice(("extra", "\ud83d", "connectorid"))] = rng.choice(_BAD_NUMBERS)
    elif choice == 6:
        action = rng.choice((action, "\udc00Boot", "FlyToTheMoon", "RemoteStartTransaction"))
    return action, payload


def frames(seed: int, count: int, transactions: list[int] | None = None) -> Iterator[Frame]:
    """``count`` frames from ``seed``; ``transactions`` (kept up to date by the caller)
    are the transaction ids handed out so far, so stops and readings can name them."""
    rng = random.Random(seed)
    known = transactions if transactions is not None else []
    for n in range(count):
        unique_id = rng.choice((f"f{n}", f"f{n}", f"f{n}", f"\ud800{n}", f"f{n}\udfff"))
        action = rng.choice(_ACTIONS)
        payload = _template(rng, action, known)
        if rng.random() < 0.7:
            action, payload = _mutate(rng, action, payload)
        text = json.dumps([2, unique_id, action, payload])  # ASCII: surrogates as escapes
        shape = rng.randrange(20)
        if shape == 0:  # cut off: not JSON at all
            yield Frame(text[: rng.randrange(1, len(text))], unique_id, action, readable=False)
        elif shape == 1:  # a binary frame; its id is read only when it is plain text
            yield Frame(text.encode(), unique_id if unique_id.isascii() else "-1", action)
        elif shape == 2 and any(c.isdigit() for c in text[len(json.dumps(unique_id)) + 4 :]):
            # A number replaced by a constant Python reads and JSON does not have.
            head = len(json.dumps([2, unique_id]))
            digits = [i for i in range(head, len(text)) if text[i].isdigit()]
            at = rng.choice(digits)
            end = at
            while end < len(text) and (text[end].isdigit() or text[end] in ".eE+-"):
                end += 1
            broken = text[:at] + rng.choice(_RAW_CONSTANTS) + text[end:]
            yield Frame(broken, unique_id, action, readable=False)
        else:
            yield Frame(text, unique_id, action)
