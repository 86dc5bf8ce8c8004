"""What the simulated 1.6 charger's link and the simulated 2.0.1 station's link share.

The two protocols name their commands and fields differently, but the simulated
charger reacts the same way to each: this module holds that reaction once, and each link
(:mod:`bot.ocpp.simlink`, :mod:`bot.ocpp.v201.simlink`) only translates its words. It also
holds the link's plumbing: the typed ``@on``, and answering the command being handled
before the connection closes (a real charger answers a Reset before it goes down).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar, cast

from ocpp.routing import on
from websockets.asyncio.client import ClientConnection

if TYPE_CHECKING:
    from bot.ocpp.simcharger import SimCharger
    from bot.ocpp.simstate import SimConnector

__all__ = [
    "AnsweringLink",
    "change_availability",
    "power_limit_w",
    "reserve",
    "trigger",
    "typed_on",
]

F = TypeVar("F", bound=Callable[..., Any])

# The library logs every frame at INFO; the links keep that on a logger of their own.
WIRE_LOG = logging.getLogger("bot.ocpp.simwire")

PHASES_W_PER_A = 230.0 * 3  # a limit in A, at three phases of 230 V


def typed_on(action: Any) -> Callable[[F], F]:
    """The library's ``@on``, typed for mypy."""
    return cast(Callable[[F], F], on(action))


class AnsweringLink:
    """Put before the library's ``ChargePoint`` in a link's bases: counts the commands
    being handled so that :meth:`close` waits until each is answered."""

    sim: SimCharger
    ws: ClientConnection

    def _wire_up(self, sim: SimCharger, ws: ClientConnection) -> None:
        self.sim = sim
        self.ws = ws
        self._handling = 0
        self._idle = asyncio.Event()
        self._idle.set()

    async def route_message(self, raw_msg: str) -> None:
        self._handling += 1
        self._idle.clear()
        try:
            await super().route_message(raw_msg)  # type: ignore[misc]
        finally:
            self._handling -= 1
            if not self._handling:
                self._idle.set()

    async def close(self) -> None:
        """Close once the command being handled is answered."""
        await self._idle.wait()
        await self.ws.close()

    def _got(self, action: str, **payload: Any) -> None:
        self.sim.received.append((action, payload))


def reserve(
    sim: SimCharger, c: SimConnector | None, reservation_id: int, id_tag: str, expiry: str
) -> str:
    """ReserveNow's status word (the same five in both protocols); holds ``c`` when
    Accepted. The same reservation id again moves the reservation to the new tag."""
    if c is None:
        return "Rejected"
    if c.error_code != "NoError":
        return "Faulted"
    if not c.operative:
        return "Unavailable"
    held_by_other = c.reservation is not None and c.reservation[0] != reservation_id
    if c.busy or held_by_other or (c.plugged and c.reservation is None):
        return "Occupied"
    until = datetime.fromisoformat(expiry.replace("Z", "+00:00")).timestamp()
    sim.reserve(c, reservation_id, id_tag, until)
    return "Accepted"


def change_availability(sim: SimCharger, chosen: Iterable[SimConnector], operative: bool) -> str:
    """Rejected (no such connector), Scheduled (after the transaction under way) or
    Accepted; an idle connector reports its new status at once."""
    chosen = list(chosen)
    if not chosen:
        return "Rejected"
    scheduled = False
    for c in chosen:
        if operative:
            c.operative, c.pending_inoperative = True, False
        elif c.busy:
            c.pending_inoperative, scheduled = True, True
        else:
            c.operative = False
        if not c.busy:
            sim.resend_status(c, c.idle_status())
    return "Scheduled" if scheduled else "Accepted"


def power_limit_w(schedule: Mapping[str, Any]) -> float:
    """The first period's limit of a charging schedule (snake_case, as the library hands
    it over), in W."""
    periods = schedule.get("charging_schedule_period") or [{}]
    limit = float(periods[0].get("limit", 0))
    if schedule.get("charging_rate_unit") == "A":
        limit *= PHASES_W_PER_A
    return limit


def trigger(
    sim: SimCharger, requested: str, chosen: Iterable[SimConnector], meter_words: set[str]
) -> None:
    """Send what TriggerMessage asked for; ``meter_words`` are the protocol's names for a
    meter reading (MeterValues, and TransactionEvent in 2.0.1)."""
    if requested == "BootNotification":
        sim.send_boot()
    elif requested == "Heartbeat":
        sim.send_heartbeat()
    for c in chosen:
        if requested == "StatusNotification":
            sim.resend_status(c)
        elif requested in meter_words:
            sim.send_meter_values(c, "Trigger")
