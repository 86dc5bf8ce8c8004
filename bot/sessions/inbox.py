"""The session inbox: what chargers, payments and drivers report, recorded, then a worker woken.

It fills :class:`~bot.ports.ChargerEvents` (called from OCPP handlers: record, wake a
worker, return; never a command from inside a handler), :class:`~bot.ports.DriverCommands`
(DM ``status`` / ``stop`` / ``help``), :class:`~bot.ports.SessionPayments` (a quote or a
top-up is paid) and :class:`~bot.ports.RefundEvents` (a withdraw link was redeemed). State
changes are compare-and-set transitions in :class:`~bot.sessions.records.SessionRecords`,
persisted before their side effects; the side effects themselves (RemoteStart, RemoteStop,
DMs, refunds) run in :mod:`bot.sessions.steps` on the workers of
:class:`~bot.sessions.workers.SessionWorkers`, which the inbox wakes through
:class:`~bot.sessions.runtime.Wakeups`.

The inbox needs nothing that calls it back: ``app.py`` builds it first and hands it to the
OCPP server, the nostr DM receiver, the pay side and the receipt listener; the service
that acts on it is built after them, with the charger control they provide.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import replace

from bot.config import ChargerConfig, Config
from bot.ports import MeterSample, StatusSink
from bot.sessions import texts
from bot.sessions.machine import TERMINAL, Event, State, is_late
from bot.sessions.meter import SessionMeter
from bot.sessions.metering import latest_power, latest_register, latest_soc
from bot.sessions.record import Session, SessionFields, TopUpResult
from bot.sessions.records import SessionRecords
from bot.sessions.runtime import Runtime, Wakeups
from bot.store.db import Database
from bot.store.lightning import LightningStore
from bot.store.meter_log import MeterLog

__all__ = ["SessionInbox"]

log = logging.getLogger("bot.sessions")

_RUNNING = (State.CHARGING, State.STOPPING)
_CHARGER_REASONS = {
    "EVDisconnected": "unplugged",
    "Local": "stopped_at_charger",
    "PowerLoss": "charger_power_loss",
    "Reboot": "charger_reboot",
    "EmergencyStop": "charger_emergency_stop",
}


class SessionInbox:
    def __init__(
        self,
        config: Config,
        db: Database,
        *,
        status: StatusSink | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config, self.status, self.clock = config, status, clock
        self.store = SessionRecords(db, clock=clock)
        self.invoices = LightningStore(db)
        self.meter_log = MeterLog(db)
        self.runtime = Runtime(started_at=clock())
        self.meter = SessionMeter(config, self.store, self.runtime, clock)
        self.wakeups = Wakeups()

    def kick(self, session_id: str) -> None:
        """Wake a worker for this session (once, however often it is kicked meanwhile)."""
        self.wakeups.kick(session_id)

    # -- SessionPayments --------------------------------------------------------------------

    async def session_paid(self, payment_hash: str, amount_msat: int, paid_at: int) -> None:
        session = await self.store.by_payment_hash(payment_hash)
        if session is not None:
            if session.state is State.QUOTED:
                await self.store.apply(
                    session.id, State.QUOTED, Event.INVOICE_PAID, paid_msat=amount_msat
                )
                log.info("session %s paid: %d msat", session.id, amount_msat)
                self.kick(session.id)
            return  # otherwise a replayed notification: counted before
        stored = await self.invoices.invoice(payment_hash)
        if stored is None or stored.session_id is None:
            log.error("payment %s belongs to no session; left for the operator", payment_hash)
            return
        session = await self.store.load(stored.session_id)
        result = await self.store.add_topup(
            session.id, payment_hash, amount_msat, payer_pubkey=session.payer_pubkey
        )
        if result is TopUpResult.APPLIED:
            log.info("session %s topped up by %d msat", session.id, amount_msat)
            self.runtime.topups.setdefault(session.id, []).append((payment_hash, amount_msat))
            self.kick(session.id)
        elif result is TopUpResult.REFUSED:
            await self._refund_late_topup(session, payment_hash, amount_msat)

    async def _refund_late_topup(self, origin: Session, payment_hash: str, amount: int) -> None:
        """A top-up its session can no longer take goes back whole, through a refund-only
        session of its own (the refund machinery works per session); replays find it."""
        refund = await self.store.open_refund(
            origin, payment_hash, amount, reason=texts.LATE_TOPUP_REASON
        )
        log.warning(
            "session %s (%s) took no more money: top-up %s of %d msat refunded as session %s",
            origin.id,
            origin.state,
            payment_hash,
            amount,
            refund.id,
        )
        self.kick(refund.id)

    # -- RefundEvents -----------------------------------------------------------------------

    async def refund_settled(self, session_id: str, *, paid: bool, detail: str) -> None:
        log.info("session %s: withdraw %s %s", session_id, "paid" if paid else "failed", detail)
        if not paid:
            self.runtime.retry_at.pop(session_id, None)
            session = await self.store.get(session_id)
            if session is not None and session.state is State.REFUNDING:
                await self.store.apply(session_id, State.REFUNDING, Event.REFUND_FAILED)
        self.kick(session_id)

    # -- ChargerEvents ----------------------------------------------------------------------

    async def charger_online(self, charger_id: str, online: bool) -> None:
        now = self.clock()
        if online:
            self.runtime.offline_since.pop(charger_id, None)
            self.runtime.online_since[charger_id] = now
        else:
            self.runtime.online_since.pop(charger_id, None)
            self.runtime.offline_since[charger_id] = now
        for session in await self._on_charger(charger_id):
            if online:
                # What we sent before the connection dropped may be lost: send again.
                self.runtime.stop_sent.discard(session.id)
                self.runtime.interval_set.discard(session.id)
            self.kick(session.id)
        self._changed(charger_id)

    async def connector_status(
        self, charger_id: str, connector_id: int, status: str, error_code: str
    ) -> None:
        self._changed(charger_id)
        if status != "Faulted":
            now = self.clock()
            for session in await self.store.active_on(charger_id, connector_id, _RUNNING):
                self.runtime.idle.status(session, status, now)
            return
        for session in await self.store.active_on(charger_id, connector_id):
            if session.state is State.CHARGING:
                await self.store.apply(
                    session.id,
                    State.CHARGING,
                    Event.CHARGER_FAULT,
                    stop_reason=f"charger_fault:{error_code}",
                    stop_requested_at=self.clock(),
                )
                self.kick(session.id)

    async def authorize_start(self, charger_id: str, connector_id: int, id_tag: str) -> bool:
        session = await self.store.by_id_tag(id_tag)
        return (
            session is not None
            and session.charger_id == charger_id
            and connector_id in (0, session.connector_id)
            and session.state is State.STARTING
        )

    async def transaction_started(
        self,
        charger_id: str,
        *,
        connector_id: int,
        id_tag: str,
        transaction_id: int,
        meter_start_wh: int,
        timestamp: str,
    ) -> None:
        session = await self.store.by_id_tag(id_tag)
        if session is None or session.charger_id != charger_id:
            return
        now = self.clock()
        moved = None
        if session.state is State.STARTING:
            moved = await self.store.apply(
                session.id,
                State.STARTING,
                Event.TRANSACTION_STARTED,
                transaction_id=transaction_id,
                meter_start_wh=meter_start_wh,
                started_at=now,
                progress_at=now,
            )
        if moved is not None:
            await self.meter_log.link_session(transaction_id, session.id)
            log.info("session %s charging: transaction %d", session.id, transaction_id)
            self.kick(session.id)
        elif session.transaction_id != transaction_id:
            # Started after we gave up on it: the driver is refunded already, stop it.
            self.runtime.orphans.append((charger_id, transaction_id))

    async def meter_values(
        self,
        charger_id: str,
        connector_id: int,
        transaction_id: int | None,
        samples: Sequence[MeterSample],
    ) -> None:
        session = await self._running_session(charger_id, connector_id, transaction_id)
        if session is None:
            return
        soc = latest_soc(samples)
        if soc is not None:
            self.runtime.soc[session.id] = soc
        now = self.clock()
        if latest_register(samples) is not None:  # news of the register (bot.sessions.edge)
            self.runtime.last_reading_at[session.id] = now
        reading = self.meter.reading(session, latest_register(samples), now)
        self.runtime.idle.reading(session, latest_power(samples), reading.energy_wh, now)
        reading = self.meter.reading(session, latest_register(samples), now)
        st = reading.settlement
        await self.store.record_consumption(
            session.id,
            energy_wh=reading.energy_wh,
            minutes=reading.minutes,
            idle_minutes=reading.idle_minutes,
            consumed_msat=st.consumed_msat,
            fees_msat=st.fees_msat,
        )
        if session.state is State.CHARGING and reading.stop_due:
            await self.meter.request_stop(session, Event.BUDGET_REACHED)
            self.kick(session.id)
        elif session.state is State.CHARGING and self.meter.progress_due(
            _with_energy(session, reading.energy_wh), now
        ):
            self.kick(session.id)

    async def transaction_stopped(
        self,
        charger_id: str,
        *,
        transaction_id: int,
        meter_stop_wh: int,
        reason: str,
        timestamp: str,
        samples: Sequence[MeterSample],
    ) -> None:
        session = await self.store.by_transaction(charger_id, transaction_id)
        if session is None or session.state not in _RUNNING:
            return  # late: the settlement stands (machine.LATE)
        now = self.clock()
        register = max(float(meter_stop_wh), latest_register(samples) or 0.0)
        reading = self.meter.reading(session, register, now)
        stop_reason = session.stop_reason or _CHARGER_REASONS.get(reason, f"charger:{reason}")
        await self.store.apply(
            session.id,
            session.state,
            Event.TRANSACTION_STOPPED,
            meter_stop_wh=meter_stop_wh,
            stopped_at=now,
            energy_wh=reading.energy_wh,
            minutes=reading.minutes,
            idle_minutes=reading.idle_minutes,
            stop_reason=stop_reason,
        )
        log.info("session %s stopped (%s) at %d Wh", session.id, stop_reason, reading.energy_wh)
        self.kick(session.id)

    # -- DriverCommands ---------------------------------------------------------------------

    async def driver_command(self, charger_id: str, sender_pubkey: str, command: str) -> str:
        word = command.strip().lower()
        sessions = await self._on_charger(charger_id)
        mine = [s for s in sessions if (s.payer_pubkey or "").lower() == sender_pubkey.lower()]
        if word == "status":
            return self._status_text(mine[-1]) if mine else texts.no_session()
        if word == "stop":
            if mine:
                return await self.stop(mine[-1], Event.DRIVER_STOP)
            if any(s.state is not State.QUOTED for s in sessions):
                return texts.not_yours()
            return texts.no_session()
        return texts.HELP

    async def stop_by_token(self, token: str) -> str | None:
        """The session page's stop action; None when the token is unknown."""
        session = await self.store.by_token(token)
        if session is None:
            return None
        return await self.stop(session, Event.PAGE_STOP)

    async def stop(self, session: Session, event: Event) -> str:
        """Stop on the payer's request; a second stop only says where things stand."""
        for _ in range(3):
            if session.state in (State.PAID, State.STARTING, State.CHARGING):
                fields: SessionFields = {"stop_reason": event.value}
                if session.state is State.CHARGING:
                    fields["stop_requested_at"] = self.clock()
                if await self.store.apply(session.id, session.state, event, **fields):
                    self.kick(session.id)
                    return texts.stop_accepted()
                session = await self.store.load(session.id)  # moved meanwhile: look again
                continue
            if is_late(session.state, event) or session.state in TERMINAL:
                return texts.stop_already(session.state.value)
            return texts.no_session()
        return texts.stop_already(session.state.value)

    def retry_refund_now(self, session_id: str) -> None:
        """An operator's retry: skip this session's refund backoff and wake it now.

        The same refund step runs as after any backoff (claim first, never pay twice)."""
        self.runtime.retry_at.pop(session_id, None)
        self.kick(session_id)

    async def fleet_changed(
        self, serving: Sequence[ChargerConfig], known: Sequence[ChargerConfig]
    ) -> None:
        """:class:`~bot.ports.FleetListener`: sessions of every known charger go on (a removed
        one's too, until they are done); new sessions come only from the pay side."""
        del serving
        self.config = self.meter.config = replace(self.config, chargers=tuple(known))

    def status_numbers(self, session: Session) -> dict[str, object]:
        cost = session.consumed_msat + session.fees_msat
        return {
            "state": session.state.value,
            "energy_wh": session.energy_wh,
            "cost_msat": cost,
            "paid_msat": session.paid_msat,
            "remaining_msat": max(0, session.paid_msat - cost),
            "refund_msat": session.refund_msat,
            "soc_percent": self.runtime.soc.get(session.id),
            "budget_wh": self.meter.budget(session),
            "idle_minutes": session.idle_minutes,
            "stop_reason": session.stop_reason,
        }

    def _status_text(self, session: Session) -> str:
        cost = session.consumed_msat + session.fees_msat
        soc = self.runtime.soc.get(session.id)
        return texts.status_line(
            session.state.value, session.energy_wh, cost, session.paid_msat, soc
        )

    # -- helpers ----------------------------------------------------------------------------

    async def _on_charger(self, charger_id: str) -> list[Session]:
        charger = self.config.charger(charger_id)
        connectors = [c.id for c in charger.connectors] if charger else [1]
        found: list[Session] = []
        for connector_id in connectors:
            found.extend(await self.store.active_on(charger_id, connector_id))
        return sorted(found, key=lambda s: s.created_at)

    async def _running_session(
        self, charger_id: str, connector_id: int, transaction_id: int | None
    ) -> Session | None:
        if transaction_id is not None:
            session = await self.store.by_transaction(charger_id, transaction_id)
        else:
            running = [
                s
                for s in await self.store.active_on(charger_id, connector_id)
                if s.state in _RUNNING
            ]
            session = running[-1] if running else None
        return session if session is not None and session.state in _RUNNING else None

    def _changed(self, charger_id: str) -> None:
        if self.status is not None:
            self.status.charger_changed(charger_id)


def _with_energy(session: Session, energy_wh: int) -> Session:
    return replace(session, energy_wh=energy_wh)
