"""The session service: the workers that turn stored states into actions.

:class:`~bot.sessions.inbox.SessionInbox` records what the world reports and kicks a
session; a worker here then runs :meth:`bot.sessions.steps.Steps.step` for it: RemoteStart,
RemoteStop, DMs, settlement and refunds, each after its transition is persisted.

As a Service, :meth:`SessionWorkers.run` owns ``workers`` worker tasks and one ticker.
The ticker wakes every unfinished session once per ``tick_s`` (timers: start deadline,
disconnect and stop timeouts, progress by time, refund retries) and checks unpaid quotes
for expiry; at start-up it wakes every unfinished session, which is how a restart resumes.

Everything is passed in when it is built (``app.py``: the inbox first, then the OCPP
server, the nostr and pay sides with it, then this service with their control, messenger
and refund desk): nothing is attached later.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import replace

from bot.config import ChargerConfig, Config
from bot.ports import ChargerControl, Messenger
from bot.ports.lightning import InvoiceStatus, LightningBackend
from bot.sessions.inbox import SessionInbox
from bot.sessions.machine import Event, State
from bot.sessions.refunding import RefundDesk, RefundRetry, refund_rows
from bot.sessions.steps import Steps
from bot.store.chargers import ChargerStore
from bot.store.db import Database
from bot.store.notices import NoticeStore
from bot.store.overshoot import OvershootStore

__all__ = ["SessionWorkers"]

log = logging.getLogger("bot.sessions")

_QUOTE_CHECK_S = 15.0


class SessionWorkers:
    name = "sessions"

    def __init__(
        self,
        config: Config,
        db: Database,
        inbox: SessionInbox,
        *,
        control: ChargerControl,
        messenger: Messenger | None = None,
        refunds: RefundDesk | None = None,
        backend: LightningBackend | None = None,
        clock: Callable[[], float] = time.time,
        workers: int = 16,
        tick_s: float = 1.0,
        retry: RefundRetry | None = None,
    ) -> None:
        self.config, self.inbox, self.control = config, inbox, control
        self.backend, self.clock = backend, clock
        self.store, self.runtime = inbox.store, inbox.runtime
        self.steps = Steps(
            config,
            self.store,
            self.runtime,
            inbox.meter,
            chargers=ChargerStore(db),
            notices=NoticeStore(db, clock=clock),
            refund_rows=refund_rows(db, clock=clock),
            control=control,
            messenger=messenger,
            desk=refunds,
            clock=clock,
            retry=retry,
            overshoots=OvershootStore(db),
        )
        self._workers, self._tick_s = workers, tick_s
        self._quotes_checked = 0.0

    async def fleet_changed(
        self, serving: Sequence[ChargerConfig], known: Sequence[ChargerConfig]
    ) -> None:
        """:class:`~bot.ports.FleetListener`: the steps know every known charger; one that is
        new and not connected counts as offline from now (its disconnect timer)."""
        del serving
        self.config = self.steps.config = replace(self.config, chargers=tuple(known))
        for charger in known:
            if not self.control.is_online(charger.id):
                self.runtime.offline_since.setdefault(charger.id, self.clock())

    async def run(self) -> None:
        for charger in self.config.chargers:
            if not self.control.is_online(charger.id):
                self.runtime.offline_since.setdefault(charger.id, self.clock())
        unfinished = await self.store.list_unfinished()
        log.info("sessions: resuming %d unfinished session(s)", len(unfinished))
        for session in unfinished:
            self.inbox.kick(session.id)
        async with asyncio.TaskGroup() as group:
            for number in range(self._workers):
                group.create_task(self._work(), name=f"sessions-worker-{number}")
            group.create_task(self._tick(), name="sessions-ticker")

    async def _work(self) -> None:
        wakeups = self.inbox.wakeups
        while True:
            session_id = await wakeups.take()
            try:
                await self.steps.step(session_id)
            except Exception:
                # One session's trouble must not stop the others; the ticker retries it.
                log.exception("session %s: step failed", session_id)
            finally:
                wakeups.done(session_id)

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self._tick_s)
            try:
                await self.steps.stop_orphans()
                for session in await self.store.list_unfinished():
                    if session.state is not State.QUOTED:
                        self.inbox.kick(session.id)
                if self.clock() - self._quotes_checked >= _QUOTE_CHECK_S:
                    self._quotes_checked = self.clock()
                    await self.expire_quotes()
            except Exception:
                log.exception("session ticker failed; trying again")

    async def expire_quotes(self) -> None:
        """quoted -> expired, only once the node itself says the invoice is expired."""
        if self.backend is None:
            return
        for stored in await self.inbox.invoices.unpaid_expired(self.clock()):
            session = await self.store.by_payment_hash(stored.payment_hash)
            if session is None or session.state is not State.QUOTED:
                continue
            invoice = await self.backend.lookup_invoice(stored.payment_hash)
            if invoice is not None and invoice.status is InvoiceStatus.EXPIRED:
                await self.store.apply(session.id, State.QUOTED, Event.INVOICE_EXPIRED)
                log.info("session %s expired unpaid", session.id)
