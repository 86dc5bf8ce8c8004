from __future__ import annotations

import json
from typing import Any

import pytest

from bot.ocpp.frames import ErrorCode
from bot.ocpp.readings import Notes, Unusable, integer, meter_samples, parse_timestamp, text

T = "2025-03-01T10:00:00Z"


def sample(*values: dict[str, Any], timestamp: str | None = T) -> dict[str, Any]:
    item: dict[str, Any] = {"sampledValue": list(values)}
    if timestamp is not None:
        item["timestamp"] = timestamp
    return item


def test_energy_power_and_soc_with_units() -> None:
    notes = Notes()
    (s,) = meter_samples(
        [
            sample(
                {"value": "12.5", "measurand": "Energy.Active.Import.Register", "unit": "kWh"},
                {"value": "7.2", "measurand": "Power.Active.Import", "unit": "kW"},
                {"value": "55", "measurand": "SoC", "unit": "Percent", "context": "Sample.Clock"},
                {"value": "230", "measurand": "Voltage", "unit": "V"},
            )
        ],
        fallback_timestamp="fallback",
        notes=notes,
    )
    assert (s.energy_wh, s.power_w, s.soc_percent) == (12500.0, 7200.0, 55.0)
    assert s.timestamp == T and s.context == "Sample.Clock"
    assert notes == Notes()


def test_defaults_are_the_specs() -> None:
    (s,) = meter_samples([sample({"value": "1000"})], fallback_timestamp="f", notes=Notes())
    assert (s.energy_wh, s.context) == (1000.0, "Sample.Periodic")


def test_phases_are_summed_when_no_total_is_sent() -> None:
    values = [{"value": "100", "phase": p} for p in ("L1", "L2", "L3")]
    (s,) = meter_samples([sample(*values)], fallback_timestamp="f", notes=Notes())
    assert s.energy_wh == 300.0
    (s,) = meter_samples([sample(*values, {"value": "290"})], fallback_timestamp="f", notes=Notes())
    assert s.energy_wh == 290.0


def test_quirks_are_repaired_and_noted() -> None:
    notes = Notes()
    (s,) = meter_samples(
        [
            sample(
                {"value": 1500},
                {"value": "3,5", "measurand": "Power.Active.Import", "unit": "kW"},
                timestamp=None,
            )
        ],
        fallback_timestamp="received",
        notes=notes,
    )
    assert (s.energy_wh, s.power_w, s.timestamp) == (1500.0, 3500.0, "received")
    assert notes.dropped == [] and len(notes.repaired) == 2


def test_unusable_values_are_dropped_and_noted_but_raw_is_kept() -> None:
    notes = Notes()
    items = [
        sample({"value": "abc"}, {"value": "-5", "measurand": "Power.Active.Import"}),
        sample({"value": "1", "unit": "furlongs"}),
        {"no": "sampledValue"},
        "junk",
    ]
    samples = meter_samples(items, fallback_timestamp="f", notes=notes)
    assert [s.energy_wh for s in samples] == [None, None]
    assert len(notes.dropped) == 5
    assert json.loads(samples[0].raw) == items[0]


def test_signed_data_is_kept_verbatim_and_not_billed_on() -> None:
    signed = {
        "value": "AP;0;3;ALCV3ABBBISB...;",
        "format": "SignedData",
        "context": "Transaction.End",
    }
    (s,) = meter_samples([sample(signed, {"value": "2000"})], fallback_timestamp="f", notes=Notes())
    assert s.energy_wh == 2000.0 and s.context == "Transaction.End"
    assert json.loads(s.raw)["sampledValue"][0] == signed


def test_integer_fields_take_common_quirks() -> None:
    notes = Notes()
    assert integer({"a": 5}, "a", notes) == 5 and notes.repaired == []
    assert integer({"a": "5"}, "a", notes) == 5
    assert integer({"a": 5.0}, "a", notes) == 5
    assert len(notes.repaired) == 2
    with pytest.raises(Unusable) as missing:
        integer({}, "a", notes)
    assert missing.value.code == ErrorCode.OCCURENCE_CONSTRAINT_VIOLATION
    for bad in ("x", True, None, [], float("nan")):
        with pytest.raises(Unusable) as wrong:
            integer({"a": bad}, "a", notes)
        assert wrong.value.code == ErrorCode.TYPE_CONSTRAINT_VIOLATION


def test_text_fields() -> None:
    notes = Notes()
    assert text({"a": "x"}, "a", notes) == "x"
    assert text({}, "a", notes, default="d") == "d"
    assert text({"a": 7}, "a", notes) == "7"
    with pytest.raises(Unusable):
        text({}, "a", notes)
    with pytest.raises(Unusable):
        text({"a": {}}, "a", notes)


def test_timestamps() -> None:
    assert parse_timestamp("1970-01-01T00:01:00Z") == 60.0
    assert parse_timestamp("1970-01-01T01:01:00+01:00") == 60.0
    assert parse_timestamp("1970-01-01T00:01:00") == 60.0  # quirk: no zone, taken as UTC
    assert parse_timestamp("yesterday") is None
