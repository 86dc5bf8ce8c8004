"""OCPP 2.0.1 meter values, without I/O: ``meterValue`` arrays into :class:`MeterSample`.

2.0.1 sends numbers as JSON numbers, the unit in ``unitOfMeasure`` with a power-of-ten
``multiplier``, and signed data in ``signedMeterValue`` (kept verbatim in ``raw``). As in
1.6 (:mod:`bot.ocpp.readings`), what cannot be used is noted, never guessed.
"""

from __future__ import annotations

import math
from typing import Any

from bot.ocpp import readings
from bot.ocpp.readings import CEILING, DEFAULT_UNIT, UNITS, Notes
from bot.ports import MeterSample

__all__ = ["latest_energy", "meter_samples"]


def meter_samples(meter_value: Any, *, fallback_timestamp: str, notes: Notes) -> list[MeterSample]:
    """The usable samples of a 2.0.1 ``meterValue`` array (absent: none)."""
    if meter_value is None:
        return []
    return readings.meter_samples(
        meter_value, fallback_timestamp=fallback_timestamp, notes=notes, scale=_scaled
    )


def latest_energy(samples: list[MeterSample]) -> float | None:
    """The energy register of the last sample that has one."""
    for sample in reversed(samples):
        if sample.energy_wh is not None:
            return sample.energy_wh
    return None


def _scaled(sampled: dict[str, Any], measurand: str, notes: Notes) -> float | None:
    """A 2.0.1 value: a JSON number, its unit in ``unitOfMeasure`` with a power of ten."""
    value = sampled.get("value")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        notes.dropped.append(f"{measurand} value {str(value)[:40]!r} is not a number")
        return None
    unit_of_measure = sampled.get("unitOfMeasure")
    unit_of_measure = unit_of_measure if isinstance(unit_of_measure, dict) else {}
    unit = unit_of_measure.get("unit") or DEFAULT_UNIT[measurand]
    multiplier = unit_of_measure.get("multiplier", 0)
    scale = UNITS[measurand].get(unit) if isinstance(unit, str) else None
    if scale is None or not isinstance(multiplier, int) or not -9 <= multiplier <= 9:
        notes.dropped.append(f"{measurand} in unit {unit!r} x10^{multiplier!r}")
        return None
    number = float(value) * scale * 10.0**multiplier
    if number < 0:
        notes.dropped.append(f"{measurand} value {value!r} is negative")
        return None
    if number > CEILING[measurand] * scale:  # as in 1.6: in the unit sent (x10^multiplier)
        notes.dropped.append(f"{measurand} value {value!r} x10^{multiplier} is not plausible")
        return None
    return number
