"""The edge of the budget while a session charges: the power cap and the blind stop.

The rules are in :mod:`bot.sessions.edge`; this applies them to one charging session on
each step of its worker (every tick, and after each reading): it sends the power cap
through :class:`~bot.ports.ChargerControl` and asks for the stop when the readings are
late. What it sent lives in :class:`~bot.sessions.runtime.Runtime` (lost on restart: the
next step sends the cap again, which replaces the same profile).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from bot.config import SessionsConfig
from bot.errors import ChargerOffline, OcppError
from bot.log import charger_log
from bot.ports import ChargerControl
from bot.sessions.edge import Edge, blind_reach, power_limit_w
from bot.sessions.machine import Event, State
from bot.sessions.meter import SessionMeter
from bot.sessions.metering import Reading
from bot.sessions.record import Session
from bot.sessions.runtime import Runtime

__all__ = ["BudgetEdge"]

log = logging.getLogger("bot.sessions")


class BudgetEdge:
    def __init__(
        self,
        settings: SessionsConfig,
        meter: SessionMeter,
        control: ChargerControl,
        runtime: Runtime,
        clock: Callable[[], float],
    ) -> None:
        self.cfg, self.meter, self.control, self.rt, self.clock = (
            settings,
            meter,
            control,
            runtime,
            clock,
        )
        self.edge = Edge(
            settings.limit_power_horizon_s, settings.limit_min_power_w, settings.late_readings_s
        )

    async def guard(self, s: Session, reading: Reading) -> bool:
        """Cap the power near the end; stop a session gone quiet before what it may deliver
        unseen reaches the budget. True when a stop was requested."""
        if s.state is not State.CHARGING or s.transaction_id is None:
            return False
        now = self.clock()
        remaining = max(0, reading.budget_wh - reading.energy_wh)
        full = self.meter.max_power_w(s)
        power = self.rt.power_limit.get(s.id, full)
        # After a restart nothing was seen yet: silence counts from when we could see.
        seen = self.rt.last_reading_at.get(s.id, max(self.rt.started_at, s.started_at or 0.0))
        silent = now - seen
        late = silent > self.cfg.sample_interval_s + self.edge.late_after_s
        if late and blind_reach(
            remaining_wh=remaining,
            power_w=power,
            silent_s=silent,
            stop_latency_s=self.cfg.stop_latency_s,
        ):
            charger_log(log, s.charger_id).warning(
                "session %s: no reading for %.0f s, and %d W could have used the %d Wh left:"
                " stopping",
                s.id,
                silent,
                power,
                remaining,
            )
            return await self.meter.request_stop(s, Event.BUDGET_REACHED)
        await self._cap(s, remaining, full)
        return False

    async def _cap(self, s: Session, remaining: int, full: int) -> None:
        limit = power_limit_w(remaining, full, self.rt.power_asked.get(s.id), self.edge)
        if limit is None or s.transaction_id is None or not self.control.is_online(s.charger_id):
            return
        self.rt.power_asked[s.id] = limit
        clog = charger_log(log, s.charger_id)
        try:
            accepted = await self.control.limit_power(
                s.charger_id, s.connector_id, s.transaction_id, limit
            )
        except (ChargerOffline, OcppError) as error:
            clog.warning("session %s: power cap not set: %s", s.id, error)
            return
        if accepted:
            self.rt.power_limit[s.id] = limit
            clog.info("session %s: %d Wh left, power capped at %d W", s.id, remaining, limit)
        else:
            clog.warning("session %s: the charger refused a power cap of %d W", s.id, limit)
