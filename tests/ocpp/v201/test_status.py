"""2.0.1 connector statuses and charging states onto the 1.6 words, per EVSE."""

from __future__ import annotations

from bot.ocpp.v201.status import EvseStates, status_16


def test_the_table() -> None:
    assert status_16("Available", None, active=False, ended=False) == "Available"
    assert status_16("Occupied", None, active=False, ended=False) == "Preparing"
    assert status_16("Occupied", "Charging", active=True, ended=False) == "Charging"
    assert status_16("Occupied", "SuspendedEVSE", active=True, ended=False) == "SuspendedEVSE"
    assert status_16("Occupied", "EVConnected", active=True, ended=False) == "Preparing"
    assert status_16("Available", "Idle", active=True, ended=False) == "Preparing"
    assert status_16("Occupied", None, active=False, ended=True) == "Finishing"
    assert status_16("Faulted", "Charging", active=True, ended=False) == "Faulted"
    assert status_16("Reserved", None, active=False, ended=False) == "Reserved"
    assert status_16("Unavailable", None, active=False, ended=False) == "Unavailable"


def test_a_session_on_one_evse_reports_only_changes() -> None:
    states = EvseStates()
    assert states.connector(1, 1, "Available") == "Available"
    assert states.connector(1, 1, "Available") is None
    assert states.connector(1, 1, "Occupied") == "Preparing"
    assert states.transaction(1, "EVConnected", ended=False) is None
    assert states.transaction(1, "Charging", ended=False) == "Charging"
    assert states.transaction(1, None, ended=False) is None  # no news: still charging
    assert states.transaction(1, None, ended=True) == "Finishing"
    assert states.connector(1, 1, "Available") == "Available"
    assert states.current(1) == "Available" and states.current(2) is None


def test_one_faulted_connector_faults_its_evse_only() -> None:
    states = EvseStates()
    states.connector(1, 1, "Available")
    states.connector(2, 1, "Available")
    assert states.connector(1, 2, "Faulted") == "Faulted"
    assert states.current(2) == "Available"
    assert states.connector(1, 2, "Available") == "Available"
