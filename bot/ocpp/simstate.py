"""The simulated charge point's connectors, meters and clock, without I/O.

Time is simulated: ``clock_speed`` 60 makes one real second a simulated minute, for the
meter, the car's state of charge and the timestamps the charger reports.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = ["SimClock", "SimConnector", "meter_value"]

ENERGY = "Energy.Active.Import.Register"


class SimClock:
    def __init__(self, speed: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        if speed <= 0:
            raise ValueError("clock speed must be positive")
        self.speed = speed
        self._monotonic = monotonic
        self._start_real = monotonic()
        self._start_sim = time.time()

    def now(self) -> float:
        """Simulated unix time."""
        return self._start_sim + (self._monotonic() - self._start_real) * self.speed

    def iso(self) -> str:
        return datetime.fromtimestamp(self.now(), UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"

    def real_seconds(self, sim_seconds: float) -> float:
        return sim_seconds / self.speed


@dataclass
class SimConnector:
    """One connector with its meter register and the car plugged into it."""

    id: int
    max_power_w: float
    meter_wh: float
    battery_wh: float = 60_000.0
    soc_percent: float = 20.0
    status: str = "Available"
    error_code: str = "NoError"
    plugged: bool = False
    operative: bool = True
    pending_inoperative: bool = False
    transaction_id: int | str | None = None  # a string in OCPP 2.0.1, made up by the charger
    id_tag: str | None = None
    starting: bool = False  # StartTransaction sent, no answer yet
    stop_when_started: str | None = None  # the stop reason, if it ended before the answer
    limit_w: float | None = None
    reservation: tuple[int, str] | None = None  # (reservationId, idTag) held by ReserveNow
    _last: float | None = None

    @property
    def busy(self) -> bool:
        return self.starting or self.transaction_id is not None

    def power_w(self) -> float:
        if self.status != "Charging" or self.soc_percent >= 100.0:
            return 0.0
        limit = self.max_power_w if self.limit_w is None else min(self.max_power_w, self.limit_w)
        return max(0.0, limit)

    def advance(self, now: float) -> None:
        """Let simulated time pass up to ``now``: energy flows while charging."""
        if self._last is not None and now > self._last:
            energy = self.power_w() * (now - self._last) / 3600.0
            self.meter_wh += energy
            self.soc_percent = min(100.0, self.soc_percent + 100.0 * energy / self.battery_wh)
        self._last = now

    def idle_status(self) -> str:
        if self.error_code != "NoError":
            return "Faulted"
        if not self.operative:
            return "Unavailable"
        if self.reservation is not None:
            return "Reserved"
        return "Preparing" if self.plugged else "Available"

    def free_for(self, id_tag: str) -> bool:
        """May a transaction for ``id_tag`` start here: free, and not held for another tag."""
        if self.busy or not self.operative or self.error_code != "NoError":
            return False
        return self.reservation is None or self.reservation[1].upper() == id_tag.upper()


def meter_value(connector: SimConnector, timestamp: str, context: str) -> dict[str, Any]:
    """One OCPP ``MeterValue`` with energy, power and the car's state of charge."""
    return {
        "timestamp": timestamp,
        "sampledValue": [
            {
                "value": str(round(connector.meter_wh)),
                "context": context,
                "measurand": ENERGY,
                "location": "Outlet",
                "unit": "Wh",
            },
            {
                "value": f"{connector.power_w():.0f}",
                "context": context,
                "measurand": "Power.Active.Import",
                "location": "Outlet",
                "unit": "W",
            },
            {
                "value": f"{connector.soc_percent:.1f}",
                "context": context,
                "measurand": "SoC",
                "location": "EV",
                "unit": "Percent",
            },
        ],
    }
