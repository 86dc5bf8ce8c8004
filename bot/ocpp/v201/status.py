"""OCPP 2.0.1 connector states onto the 1.6 vocabulary the rest of the bot speaks, without I/O.

2.0.1 splits what 1.6 called a connector status in two: StatusNotification says whether a
connector is Available, Occupied, Reserved, Unavailable or Faulted, and each
TransactionEvent's ``chargingState`` says what the car does (Charging, EVConnected,
SuspendedEV, SuspendedEVSE, Idle). Our connector N is the charger's EVSE N, so
:class:`EvseStates` combines both per EVSE into one 1.6 status:

==================================== =================================================
Faulted / Unavailable / Reserved     the same (any faulted connector faults the EVSE)
Occupied or a transaction, Charging  Charging (SuspendedEV, SuspendedEVSE likewise)
Occupied or a transaction, otherwise Preparing (EVConnected, Idle, no state yet)
Occupied after the transaction ended Finishing
Available, no transaction            Available
==================================== =================================================

so the 33600 status event, ``zapcharge watch``, idle billing and the session's checks see
the same words for both protocols.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["CHARGING_STATES", "CONNECTOR_STATUSES", "EvseStates", "status_16"]

CONNECTOR_STATUSES = frozenset({"Available", "Occupied", "Reserved", "Unavailable", "Faulted"})
CHARGING_STATES = frozenset({"Charging", "EVConnected", "SuspendedEV", "SuspendedEVSE", "Idle"})
_SAME_NAME = ("Charging", "SuspendedEV", "SuspendedEVSE")


def status_16(connector: str | None, charging: str | None, active: bool, ended: bool) -> str:
    """The 1.6 status of one EVSE; see the table in the module docstring."""
    if connector in ("Faulted", "Unavailable", "Reserved"):
        return connector
    if active:
        return charging if charging in _SAME_NAME else "Preparing"
    if connector == "Occupied":
        return "Finishing" if ended else "Preparing"
    return "Available"


@dataclass
class _Evse:
    connectors: dict[int, str] = field(default_factory=dict)
    charging: str | None = None
    active: bool = False
    ended: bool = False
    reported: str | None = None

    def combined(self) -> str | None:
        seen = set(self.connectors.values())
        for status in ("Faulted", "Occupied", "Reserved", "Available", "Unavailable"):
            if status in seen:
                return status
        return None


class EvseStates:
    """The last known state of every EVSE of one charger; each update returns the EVSE's
    new 1.6 status when it changed, else None."""

    def __init__(self) -> None:
        self._evses: dict[int, _Evse] = {}

    def connector(self, evse_id: int, connector_id: int, status: str) -> str | None:
        evse = self._evses.setdefault(evse_id, _Evse())
        evse.connectors[connector_id] = status
        if status == "Available":
            evse.ended = False  # the car has left: the finished transaction is over
        return self._changed(evse)

    def transaction(self, evse_id: int, charging: str | None, *, ended: bool) -> str | None:
        evse = self._evses.setdefault(evse_id, _Evse())
        if ended:
            evse.active, evse.ended, evse.charging = False, True, None
        else:
            evse.active, evse.ended = True, False
            evse.charging = charging or evse.charging
        return self._changed(evse)

    def current(self, evse_id: int) -> str | None:
        evse = self._evses.get(evse_id)
        return None if evse is None else evse.reported

    @staticmethod
    def _changed(evse: _Evse) -> str | None:
        status = status_16(evse.combined(), evse.charging, evse.active, evse.ended)
        if status == evse.reported:
            return None
        evse.reported = status
        return status
