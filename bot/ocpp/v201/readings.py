"""OCPP 2.0.1 meter values, without I/O: ``meterValue`` arrays into :class:`MeterSample`.

2.0.1 sends numbers as JSON numbers, the unit in ``unitOfMeasure`` with a power-of-ten
``multiplier``, and signed data in ``signedMeterValue`` (kept verbatim in ``raw``). As in
1.6 (:mod:`bot.ocpp.readings`), what cannot be used is noted, never guessed.
"""

from __future__ import annotations

import json
import math
from typing import Any

from bot.ocpp.readings import ENERGY, POWER, SOC, Notes, parse_timestamp
from bot.ports import MeterSample

__all__ = ["latest_energy", "meter_samples"]

_UNITS = {
    ENERGY: {"Wh": 1.0, "kWh": 1000.0},
    POWER: {"W": 1.0, "kW": 1000.0},
    SOC: {"Percent": 1.0},
}
_DEFAULT_UNIT = {ENERGY: "Wh", POWER: "W", SOC: "Percent"}
_PHASES = {"L1", "L2", "L3", "L1-N", "L2-N", "L3-N"}


def meter_samples(meter_value: Any, *, fallback_timestamp: str, notes: Notes) -> list[MeterSample]:
    """The usable samples of a 2.0.1 ``meterValue`` array (absent: none)."""
    if meter_value is None:
        return []
    if not isinstance(meter_value, list):
        notes.dropped.append("meterValue is not an array")
        return []
    samples = []
    for index, item in enumerate(meter_value):
        if not isinstance(item, dict) or not isinstance(item.get("sampledValue"), list):
            notes.dropped.append(f"meterValue[{index}] has no sampledValue array")
            continue
        samples.append(_sample(item, fallback_timestamp, notes))
    return samples


def latest_energy(samples: list[MeterSample]) -> float | None:
    """The energy register of the last sample that has one."""
    for sample in reversed(samples):
        if sample.energy_wh is not None:
            return sample.energy_wh
    return None


def _sample(item: dict[str, Any], fallback_timestamp: str, notes: Notes) -> MeterSample:
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
        if context is None and isinstance(sampled.get("context"), str):
            context = sampled["context"]
        measurand = sampled.get("measurand") or ENERGY  # the spec's default measurand
        if measurand not in values:
            continue  # kept verbatim in raw; not a number we bill on
        number = _scaled(sampled, measurand, notes)
        if number is not None:
            phase = sampled.get("phase")
            values[measurand].append((phase if isinstance(phase, str) else None, number))
    return MeterSample(
        timestamp=timestamp,
        context=context or "Sample.Periodic",
        energy_wh=_total(values[ENERGY]),
        power_w=_total(values[POWER]),
        soc_percent=values[SOC][0][1] if values[SOC] else None,
        raw=json.dumps(item, separators=(",", ":"), ensure_ascii=True),
    )


def _scaled(sampled: dict[str, Any], measurand: str, notes: Notes) -> float | None:
    value = sampled.get("value")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        notes.dropped.append(f"{measurand} value {str(value)[:40]!r} is not a number")
        return None
    unit_of_measure = sampled.get("unitOfMeasure")
    unit_of_measure = unit_of_measure if isinstance(unit_of_measure, dict) else {}
    unit = unit_of_measure.get("unit") or _DEFAULT_UNIT[measurand]
    multiplier = unit_of_measure.get("multiplier", 0)
    scale = _UNITS[measurand].get(unit) if isinstance(unit, str) else None
    if scale is None or not isinstance(multiplier, int) or not -9 <= multiplier <= 9:
        notes.dropped.append(f"{measurand} in unit {unit!r} x10^{multiplier!r}")
        return None
    number = float(value) * scale * 10.0**multiplier
    if number < 0:
        notes.dropped.append(f"{measurand} value {value!r} is negative")
        return None
    return number


def _total(values: list[tuple[str | None, float]]) -> float | None:
    """The phase-less value if there is one, else the sum over the phases."""
    for phase, number in values:
        if phase is None:
            return number
    phases = {phase: number for phase, number in values if phase in _PHASES}
    return sum(phases.values()) if phases else None
