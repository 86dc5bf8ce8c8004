"""A running session's numbers: what it cost so far, when to stop, when to report.

Shared by the inbox (a MeterValues arrived) and the workers (a charging session's tick),
so both decide from the same reading.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace

from bot.config import Config
from bot.log import charger_log
from bot.sessions.machine import Event, State
from bot.sessions.metering import Reading, reading_of
from bot.sessions.record import Session
from bot.sessions.records import SessionRecords
from bot.sessions.runtime import Runtime
from bot.sessions.tariff import budget_wh

__all__ = ["SessionMeter"]

log = logging.getLogger("bot.sessions")


class SessionMeter:
    def __init__(
        self,
        config: Config,
        records: SessionRecords,
        runtime: Runtime,
        clock: Callable[[], float],
    ) -> None:
        self.config, self.cfg = config, config.sessions
        self.records, self.rt, self.clock = records, runtime, clock

    def reading(self, s: Session, register: float | None, now: float) -> Reading:
        idle = self.rt.idle.minutes(s, now)
        return reading_of(
            replace(s, idle_minutes=idle) if idle != s.idle_minutes else s,
            register,
            now,
            max_power_w=self.max_power_w(s),
            sample_interval_s=self.cfg.sample_interval_s,
            stop_latency_s=self.cfg.stop_latency_s,
        )

    def progress_due(self, s: Session, now: float) -> bool:
        if s.payer_pubkey is None:
            return False
        since = s.progress_at or s.started_at or now
        return (
            s.energy_wh - s.progress_wh >= self.cfg.progress_every_wh
            or now - since >= self.cfg.progress_every_s
        )

    async def request_stop(self, s: Session, event: Event) -> bool:
        """charging -> stopping (persisted first); the RemoteStop follows from stopping."""
        moved = await self.records.apply(
            s.id, State.CHARGING, event, stop_reason=event.value, stop_requested_at=self.clock()
        )
        if moved is not None:
            charger_log(log, s.charger_id).info("session %s stopping: %s", s.id, event.value)
        return True

    def max_power_w(self, s: Session) -> int:
        charger = self.config.charger(s.charger_id)
        connector = charger.connector(s.connector_id) if charger else None
        return connector.max_power_w if connector else 22_000

    def budget(self, s: Session) -> int:
        return budget_wh(s.quote, s.paid_msat, s.minutes, s.idle_minutes)
