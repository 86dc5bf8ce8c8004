from __future__ import annotations

import pytest

from bot.ocpp.simstate import SimClock, SimConnector, meter_value


def test_the_clock_runs_at_its_speed() -> None:
    now = [100.0]
    clock = SimClock(60.0, monotonic=lambda: now[0])
    start = clock.now()
    now[0] += 2.0
    assert clock.now() - start == pytest.approx(120.0)
    assert clock.real_seconds(60) == 1.0
    assert clock.iso().endswith("Z")
    with pytest.raises(ValueError, match="positive"):
        SimClock(0)


def test_energy_flows_only_while_charging_and_respects_limits() -> None:
    c = SimConnector(1, max_power_w=11_000, meter_wh=1000.0, battery_wh=10_000.0, soc_percent=50.0)
    c.advance(0.0)
    c.advance(3600.0)
    assert c.meter_wh == 1000.0  # Available: nothing flows
    c.status = "Charging"
    c.advance(3600.0 + 360.0)  # six minutes at 11 kW
    assert c.meter_wh == pytest.approx(2100.0)
    assert c.soc_percent == pytest.approx(61.0)
    c.limit_w = 3600.0
    c.advance(3600.0 + 360.0 + 3600.0)
    assert c.meter_wh == pytest.approx(5700.0)
    c.advance(100_000.0)
    assert c.soc_percent == 100.0 and c.power_w() == 0.0  # a full car draws nothing


def test_idle_status() -> None:
    c = SimConnector(1, 11_000, 0.0)
    assert c.idle_status() == "Available"
    c.plugged = True
    assert c.idle_status() == "Preparing"
    c.operative = False
    assert c.idle_status() == "Unavailable"
    c.error_code = "GroundFailure"
    assert c.idle_status() == "Faulted"


def test_a_meter_value_has_energy_power_and_soc() -> None:
    c = SimConnector(1, 11_000, 1234.4, status="Charging")
    value = meter_value(c, "T", "Sample.Periodic")
    measurands = {v["measurand"]: v["value"] for v in value["sampledValue"]}
    assert measurands == {
        "Energy.Active.Import.Register": "1234",
        "Power.Active.Import": "11000",
        "SoC": "20.0",
    }
