"""Lenient reading of the billing messages (MeterValues, Start/StopTransaction,
StatusNotification), without I/O.

Real chargers break the 1.6 schemas on exactly these messages: numbers sent as JSON
numbers instead of strings, decimal commas, integers as ``"1234"``, ``kWh`` where ``Wh``
is due, unknown measurands, a missing timestamp. Refusing such a message would lose
billing data, so we take what is usable and say what we did: a :class:`Notes` collects
"repaired" quirks (nothing lost) and "dropped" parts (something could not be used; the
caller logs it and stores the raw message). Only a message with nothing usable left is
refused, with :class:`Unusable` carrying the OCPP-J error code.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot.ocpp.frames import ErrorCode
from bot.ocpp.values import INT32_MAX, INT32_MIN
from bot.ports import MeterSample

__all__ = [
    "CEILING",
    "DEFAULT_UNIT",
    "UNITS",
    "Notes",
    "Scale",
    "Unusable",
    "integer",
    "meter_samples",
    "parse_timestamp",
    "text",
]

ENERGY = "Energy.Active.Import.Register"
POWER = "Power.Active.Import"
SOC = "SoC"
_PHASES = {"L1", "L2", "L3", "L1-N", "L2-N", "L3-N"}
UNITS = {
    ENERGY: {"Wh": 1.0, "kWh": 1000.0},
    POWER: {"W": 1.0, "kW": 1000.0},
    SOC: {"Percent": 1.0},
}
DEFAULT_UNIT = {ENERGY: "Wh", POWER: "W", SOC: "Percent"}
# Beyond these no reading is true (in the unit sent; kWh is scaled after): 2**31 Wh is the
# largest meterStop OCPP can carry, 10 MW more than any charger, SoC a percentage.
CEILING = {ENERGY: float(INT32_MAX), POWER: 1e7, SOC: 100.0}


class Unusable(Exception):
    """Nothing usable is left of a message: refuse it with ``code``."""

    def __init__(self, code: str, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


@dataclass
class Notes:
    repaired: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)


def integer(payload: dict[str, Any], name: str, notes: Notes, *, minimum: int = INT32_MIN) -> int:
    """A required integer field; ``1234.0`` and ``"1234"`` are taken (and noted).

    OCPP integers are 32 bits: a value outside ``minimum..2**31-1`` is refused here, where
    the charger can be told, instead of failing in SQLite (64 bits) or in the arithmetic.
    """
    if name not in payload:
        raise Unusable(ErrorCode.OCCURENCE_CONSTRAINT_VIOLATION, f"{name} is missing")
    value = payload[name]
    if isinstance(value, int) and not isinstance(value, bool):
        number: int | float = value
    else:
        parsed = _number(value)
        if parsed is None or not math.isfinite(parsed):
            raise Unusable(ErrorCode.TYPE_CONSTRAINT_VIOLATION, f"{name} is not an integer")
        notes.repaired.append(f"{name} sent as {type(value).__name__}")
        number = parsed
    if not minimum <= number <= INT32_MAX:
        raise Unusable(
            ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
            f"{name} {number:g} is outside {minimum}..{INT32_MAX}",
        )
    return round(number)


def text(payload: dict[str, Any], name: str, notes: Notes, *, default: str | None = None) -> str:
    """A required string field; when missing, ``default`` is taken (and noted) if given."""
    value = payload.get(name)
    if isinstance(value, str):
        return value
    if value is None:
        if default is None:
            raise Unusable(ErrorCode.OCCURENCE_CONSTRAINT_VIOLATION, f"{name} is missing")
        notes.repaired.append(f"{name} missing")
        return default
    if isinstance(value, int | float) and not isinstance(value, bool):
        notes.repaired.append(f"{name} sent as a number")
        return str(value)
    raise Unusable(ErrorCode.TYPE_CONSTRAINT_VIOLATION, f"{name} is not a string")


def parse_timestamp(value: str) -> float | None:
    """Unix seconds of an ISO 8601 time (``Z`` or an offset); None when it is not one."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:  # quirk: no zone given; OCPP times are UTC
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip().replace(",", "."))  # quirk: decimal commas
        except ValueError:
            return None
    return None


# A protocol's reading of one sampled value: the number in our unit (Wh, W, %), or None
# when it cannot be used (and why, in the notes).
Scale = Callable[[dict[str, Any], str, Notes], "float | None"]


def meter_samples(
    meter_value: Any, *, fallback_timestamp: str, notes: Notes, scale: Scale | None = None
) -> list[MeterSample]:
    """The usable samples of a ``meterValue`` / ``transactionData`` array; ``scale`` reads
    a value in the protocol's form (1.6 strings with ``unit``, by default)."""
    if not isinstance(meter_value, list):
        notes.dropped.append("meter values are not an array")
        return []
    samples = []
    for index, item in enumerate(meter_value):
        if not isinstance(item, dict) or not isinstance(item.get("sampledValue"), list):
            notes.dropped.append(f"meterValue[{index}] has no sampledValue array")
            continue
        samples.append(_sample(item, fallback_timestamp, notes, scale or _scaled))
    return samples


def _sample(
    item: dict[str, Any], fallback_timestamp: str, notes: Notes, scale: Scale
) -> MeterSample:
    timestamp = item.get("timestamp")
    if not isinstance(timestamp, str) or parse_timestamp(timestamp) is None:
        notes.repaired.append("meterValue without a valid timestamp")
        timestamp = fallback_timestamp
    values: dict[str, list[tuple[str | None, float]]] = {ENERGY: [], POWER: [], SOC: []}
    context = None
    for sampled in item["sampledValue"]:
        if not isinstance(sampled, dict):
            notes.dropped.append("a sampledValue is not an object")
            continue
        context = context or _str_or_none(sampled.get("context"))
        measurand = sampled.get("measurand") or ENERGY  # the spec's default measurand
        if measurand not in values or sampled.get("format") == "SignedData":
            continue  # kept verbatim in raw; not a number we bill on
        number = scale(sampled, measurand, notes)
        if number is not None:
            values[measurand].append((_str_or_none(sampled.get("phase")), number))
    return MeterSample(
        timestamp=timestamp,
        context=context or "Sample.Periodic",
        energy_wh=_total(values[ENERGY]),
        power_w=_total(values[POWER]),
        soc_percent=values[SOC][0][1] if values[SOC] else None,
        raw=json.dumps(item, separators=(",", ":"), ensure_ascii=False),
    )


def _scaled(sampled: dict[str, Any], measurand: str, notes: Notes) -> float | None:
    raw_value = sampled.get("value")
    number = _number(raw_value)
    if number is None or not math.isfinite(number) or not 0 <= number <= CEILING[measurand]:
        notes.dropped.append(f"{measurand} value {raw_value!r} is not a usable number")
        return None
    if not isinstance(raw_value, str):
        notes.repaired.append(f"{measurand} value sent as a JSON number")
    unit = sampled.get("unit") or DEFAULT_UNIT[measurand]
    scale = UNITS[measurand].get(unit)
    if scale is None:
        notes.dropped.append(f"{measurand} in unit {unit!r}")
        return None
    return number * scale


def _total(values: list[tuple[str | None, float]]) -> float | None:
    """The phase-less value if there is one, else the sum over the phases."""
    for phase, number in values:
        if phase is None:
            return number
    phases = {phase: number for phase, number in values if phase in _PHASES}
    return sum(phases.values()) if phases else None


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None
