"""2.0.1 meter values: numbers, unitOfMeasure with multipliers, phases, bad values noted."""

from __future__ import annotations

from bot.ocpp.readings import Notes
from bot.ocpp.v201.readings import latest_energy, meter_samples


def _value(value: object, measurand: str, **extra: object) -> dict[str, object]:
    return {"value": value, "measurand": measurand, **extra}


def test_units_multipliers_and_phases() -> None:
    notes = Notes()
    [sample] = meter_samples(
        [
            {
                "timestamp": "2026-01-05T10:00:00Z",
                "sampledValue": [
                    _value(12.5, "Energy.Active.Import.Register", unitOfMeasure={"unit": "kWh"}),
                    _value(3.7, "Power.Active.Import", phase="L1", unitOfMeasure={"multiplier": 3}),
                    _value(3.6, "Power.Active.Import", phase="L2", unitOfMeasure={"multiplier": 3}),
                    _value(55, "SoC", context="Sample.Clock"),
                    _value(230, "Voltage"),
                ],
            }
        ],
        fallback_timestamp="fallback",
        notes=notes,
    )
    assert sample.energy_wh == 12_500.0
    assert sample.power_w == 7_300.0
    assert sample.soc_percent == 55.0
    assert sample.context == "Sample.Clock"
    assert sample.timestamp == "2026-01-05T10:00:00Z"
    assert notes.dropped == [] and notes.repaired == []


def test_what_cannot_be_used_is_noted_not_guessed() -> None:
    notes = Notes()
    samples = meter_samples(
        [
            {"sampledValue": [_value("12", "Energy.Active.Import.Register")]},
            {
                "sampledValue": [
                    _value(5, "Energy.Active.Import.Register", unitOfMeasure={"unit": "J"})
                ]
            },
            {"sampledValue": [_value(-5, "Energy.Active.Import.Register")]},
            "junk",
        ],
        fallback_timestamp="2026-01-05T10:00:00Z",
        notes=notes,
    )
    assert [s.energy_wh for s in samples] == [None, None, None]
    assert len(notes.dropped) == 4
    assert "meterValue without a valid timestamp" in notes.repaired
    assert latest_energy(samples) is None
    assert meter_samples(None, fallback_timestamp="x", notes=notes) == []


def test_a_reading_beyond_what_a_meter_can_show_is_dropped_as_in_1_6() -> None:
    notes = Notes()
    beyond = {"value": 3.0, "unitOfMeasure": {"unit": "Wh", "multiplier": 9}}  # 3 TWh
    item = {"timestamp": "2026-01-05T10:00:00Z", "sampledValue": [beyond]}
    [sample] = meter_samples([item], fallback_timestamp="x", notes=notes)
    assert sample.energy_wh is None
    assert notes.dropped == ["Energy.Active.Import.Register value 3.0 x10^9 is not plausible"]
