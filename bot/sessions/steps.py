"""The side effects of each session state, run by the service's workers.

:meth:`Steps.step` loads a session and does what its stored state asks (the RESUME table
of :mod:`bot.sessions.machine`): send RemoteStart from ``paid``, watch the start deadline
in ``starting``, keep a ``charging`` session's sample interval, DMs and timers, send
RemoteStop from ``stopping``, settle, refund. Each transition is persisted before the side
effect it allows, and the in-memory :class:`Runtime` only remembers what *this* process
already sent, so a restart resends only what is safe to resend (RemoteStop) and asks
before anything else (RemoteStart, refunds).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from bot.config import Config, SessionsConfig
from bot.errors import ChargerOffline, OcppError, SessionError, ZapchargeError, is_retryable
from bot.log import charger_log
from bot.ports import ChargerControl, Messenger
from bot.sessions import texts
from bot.sessions.edge import overshoot_wh
from bot.sessions.guard import BudgetEdge
from bot.sessions.machine import Event, State
from bot.sessions.meter import SessionMeter
from bot.sessions.record import Session
from bot.sessions.records import SessionRecords
from bot.sessions.refunding import RefundDesk, RefundOutcome, RefundRetry
from bot.sessions.runtime import Runtime
from bot.sessions.settlement import Receipt, full_refund, settle
from bot.store.chargers import ChargerStore
from bot.store.notices import NoticeStore
from bot.store.overshoot import Overshoot, OvershootStore
from bot.store.refunds import RefundStatus, RefundStore

__all__ = ["LUD16_ATTEMPTS", "RESUME_GRACE_S", "Steps"]

log = logging.getLogger("bot.sessions")

LUD16_ATTEMPTS = 3  # failed payments to a lightning address before a withdraw link instead
RESUME_GRACE_S = 5.0  # a reconnected charger first flushes what it queued while we were away
_MAX_STEPS = 10


class Steps:
    def __init__(
        self,
        config: Config,
        store: SessionRecords,
        runtime: Runtime,
        meter: SessionMeter,
        *,
        chargers: ChargerStore,
        notices: NoticeStore,
        refund_rows: RefundStore,
        control: ChargerControl,
        messenger: Messenger | None,
        desk: RefundDesk | None,
        clock: Callable[[], float],
        retry: RefundRetry | None = None,
        overshoots: OvershootStore | None = None,
    ) -> None:
        self.config, self.settings = config, config.sessions
        self.overshoots = overshoots
        self.store, self.chargers, self.notices = store, chargers, notices
        self.refund_rows, self.control, self.messenger, self.desk = (
            refund_rows,
            control,
            messenger,
            desk,
        )
        self.rt, self.meter, self.clock = runtime, meter, clock
        self.retry = retry or RefundRetry()
        self.edge = BudgetEdge(config.sessions, meter, control, runtime, clock)
        self._by_state: dict[State, Callable[[Session], Awaitable[bool]]] = {
            State.PAID: self.start,
            State.STARTING: self.starting,
            State.CHARGING: self.charging,
            State.STOPPING: self.stopping,
            State.SETTLING: self.settling,
            State.FAILED_TO_START: self.failed,
            State.REFUNDING: self.refunding,
        }

    @property
    def cfg(self) -> SessionsConfig:
        return self.settings

    async def step(self, session_id: str) -> None:
        """Run the session's state actions until it waits for something outside."""
        for _ in range(_MAX_STEPS):
            session = await self.store.get(session_id)
            if session is None:
                return
            action = self._by_state.get(session.state)
            if action is None:
                self.rt.forget(session_id)
                return
            if not await action(session):
                return

    # -- starting ---------------------------------------------------------------------------

    async def start(self, s: Session) -> bool:
        if not self.control.is_online(s.charger_id):
            # After a restart the charger needs a moment to reconnect; the pay side refused
            # payments for offline chargers, so waiting up to the start timeout is enough.
            if self.clock() - s.updated_at < self.cfg.start_timeout_s:
                return False
            await self.store.apply(s.id, State.PAID, Event.CHARGER_OFFLINE, stop_reason="offline")
            return True
        deadline = self.clock() + self.cfg.start_timeout_s
        moved = await self.store.apply(
            s.id, State.PAID, Event.START_REQUESTED, start_deadline=deadline
        )
        if moved is None:
            return True
        return await self._send_start(moved, resumed=False)

    async def _send_start(self, s: Session, *, resumed: bool) -> bool:
        self.rt.start_sent.add(s.id)
        clog = charger_log(log, s.charger_id)
        try:
            accepted = await self.control.remote_start(s.charger_id, s.connector_id, s.id_tag)
        except ChargerOffline:
            accepted = None  # not sent at all
        except OcppError as error:
            if is_retryable(error):  # no answer: it may have started; the deadline decides
                clog.warning("session %s: RemoteStart unanswered", s.id)
                return False
            accepted = False
        if accepted:
            await self.store.update(s.id, State.STARTING, start_accepted_at=self.clock())
            return False
        if resumed:  # the charger may be busy with our own start: let the deadline decide
            return False
        event = Event.CHARGER_OFFLINE if accepted is None else Event.START_REJECTED
        clog.warning("session %s: RemoteStart %s", s.id, event.value)
        await self.store.apply(s.id, State.STARTING, event, stop_reason=event.value)
        return True

    async def starting(self, s: Session) -> bool:
        now = self.clock()
        if s.start_deadline is not None and now >= s.start_deadline:
            await self.store.apply(
                s.id, State.STARTING, Event.START_TIMEOUT, stop_reason="start_timeout"
            )
            return True
        if s.id in self.rt.start_sent or s.start_accepted_at is not None:
            return False
        # Resumed after a restart, RemoteStart may have gone out: never resend blindly.
        since = self.rt.online_since.get(s.charger_id)
        if since is None or now - since < RESUME_GRACE_S:
            return False
        status = (await self.chargers.statuses(s.charger_id)).get(s.connector_id)
        if status is not None and status.status != "Available":
            self.rt.start_sent.add(s.id)  # the charger is on it: wait for StartTransaction
            return False
        return await self._send_start(s, resumed=True)

    # -- charging ---------------------------------------------------------------------------

    async def charging(self, s: Session) -> bool:
        now = self.clock()
        online = self.control.is_online(s.charger_id)
        if online and s.id not in self.rt.interval_set:
            self.rt.interval_set.add(s.id)
            await self._quietly(
                s, self.control.set_sample_interval(s.charger_id, self.cfg.sample_interval_s)
            )
        reading = self.meter.reading(s, None, now)
        if await self.notices.claim(s.id, "started"):
            await self.dm(s, texts.started(s.id, s.quote, s.paid_msat, reading.budget_wh))
        for payment_hash, amount in self.rt.topups.pop(s.id, []):
            if await self.notices.claim(s.id, f"topup:{payment_hash}"):
                await self.dm(s, texts.topup(amount, s.paid_msat, reading.budget_wh))
        offline = self.rt.offline_since.get(s.charger_id)
        if not online and offline is not None and now - offline >= self.cfg.disconnect_timeout_s:
            return await self.meter.request_stop(s, Event.DISCONNECT_TIMEOUT)
        if reading.idle_minutes != s.idle_minutes:
            await self.store.record_consumption(
                s.id,
                energy_wh=s.energy_wh,
                minutes=reading.minutes,
                idle_minutes=reading.idle_minutes,
                consumed_msat=reading.settlement.consumed_msat,
                fees_msat=reading.settlement.fees_msat,
            )
        if reading.stop_due:  # time and idle fees alone can use the budget up
            return await self.meter.request_stop(s, Event.BUDGET_REACHED)
        if await self.edge.guard(s, reading):  # the power cap; late readings stop it
            return True
        if self.meter.progress_due(s, now):
            moved = await self.store.update(
                s.id, State.CHARGING, progress_wh=s.energy_wh, progress_at=now
            )
            if moved:
                remaining = max(0, s.paid_msat - reading.cost_msat)
                soc = self.rt.soc.get(s.id)
                await self.dm(s, texts.progress(s.energy_wh, reading.cost_msat, remaining, soc))
        return False

    async def stopping(self, s: Session) -> bool:
        now = self.clock()
        requested = s.stop_requested_at or now
        if now - requested >= self.cfg.stop_timeout_s:
            meter_stop = None if s.meter_start_wh is None else s.meter_start_wh + s.energy_wh
            await self.store.apply(
                s.id,
                State.STOPPING,
                Event.STOP_TIMEOUT,
                stopped_at=now,
                meter_stop_wh=meter_stop,
                minutes=max(s.minutes, int((now - (s.started_at or now)) // 60)),
                idle_minutes=self.rt.idle.minutes(s, now),
            )
            return True
        if s.id in self.rt.stop_sent or s.transaction_id is None:
            return False
        if not self.control.is_online(s.charger_id):
            return False
        self.rt.stop_sent.add(s.id)
        try:
            await self.control.remote_stop(s.charger_id, s.transaction_id)
        except (ChargerOffline, OcppError) as error:
            charger_log(log, s.charger_id).warning("session %s: RemoteStop: %s", s.id, error)
            self.rt.stop_sent.discard(s.id)  # try again on the next tick
        return False

    async def stop_orphans(self) -> None:
        """Transactions that started after their session gave up: stop them at the charger."""
        orphans, self.rt.orphans = self.rt.orphans, []
        for charger_id, transaction_id in orphans:
            try:
                await self.control.remote_stop(charger_id, transaction_id)
            except (ChargerOffline, OcppError) as error:
                charger_log(log, charger_id).warning(
                    "transaction %d without a session not stopped: %s", transaction_id, error
                )

    # -- settling and refunds ---------------------------------------------------------------

    def receipt(self, s: Session, topups: int = 0) -> Receipt:
        if s.state is State.FAILED_TO_START or s.transaction_id is None:
            settlement = full_refund(s.paid_msat)
        else:
            settlement = settle(s.quote, s.paid_msat, s.energy_wh, s.minutes, s.idle_minutes)
        return Receipt(
            session_id=s.id,
            charger_id=s.charger_id,
            connector_id=s.connector_id,
            quote=s.quote,
            settlement=settlement,
            energy_wh=s.energy_wh,
            started_at=s.started_at,
            stopped_at=s.stopped_at,
            meter_start_wh=s.meter_start_wh,
            meter_stop_wh=s.meter_stop_wh,
            topups=topups,
            stop_reason=s.stop_reason,
            idle_minutes=s.idle_minutes,
        )

    async def settling(self, s: Session) -> bool:
        receipt = self.receipt(s, len(await self.store.topups(s.id)))
        st = receipt.settlement
        await self._record_overshoot(s, st.waived_msat)
        if await self.notices.claim(s.id, "receipt"):
            await self.dm(s, texts.receipt(receipt))
        event = Event.REFUND_DUE if st.due else Event.NOTHING_DUE
        await self.store.apply(
            s.id,
            State.SETTLING,
            event,
            consumed_msat=st.consumed_msat,
            fees_msat=st.fees_msat,
            refund_msat=st.refund_msat,
            waived_msat=st.waived_msat,
        )
        return True

    async def _record_overshoot(self, s: Session, waived_msat: int) -> None:
        """Energy beyond the budget is never billed; it is kept so the loss is not silent."""
        if self.overshoots is None or s.transaction_id is None:
            return
        budget = self.meter.budget(s)
        over = overshoot_wh(s.energy_wh, budget)
        if over == 0:
            return
        charger_log(log, s.charger_id).warning(
            "session %s: %d Wh delivered beyond the %d Wh paid for (%d msat waived)",
            s.id,
            over,
            budget,
            waived_msat,
        )
        await self.overshoots.record(
            Overshoot(s.id, s.charger_id, s.energy_wh, budget, over, waived_msat, self.clock())
        )

    async def failed(self, s: Session) -> bool:
        if s.stop_reason == texts.RESERVATION_REFUND_REASON:
            pass  # the reservation's own DM said why its fee goes back
        elif await self.notices.claim(s.id, "failed"):
            if s.stop_reason == texts.LATE_TOPUP_REASON:
                await self.dm(s, texts.late_topup(s.id, s.paid_msat))
            else:
                why = (s.stop_reason or "no start").replace("_", " ")
                await self.dm(s, texts.failed_to_start(s.id, s.paid_msat, why))
        await self.store.apply(
            s.id,
            State.FAILED_TO_START,
            Event.REFUND_DUE,
            consumed_msat=0,
            fees_msat=0,
            refund_msat=s.paid_msat,
            stopped_at=s.stopped_at or self.clock(),
        )
        return True

    async def refunding(self, s: Session) -> bool:
        amount = s.refund_msat or 0
        row = await self.refund_rows.get(s.id)
        if row is not None and row.status is RefundStatus.PAID:
            return await self._refund_paid(s, amount, row.method.value)
        if self.desk is None or self.rt.retry_at.get(s.id, 0.0) > self.clock():
            return False
        if row is None or row.status is RefundStatus.RELEASED:
            attempts = row.attempts if row is not None else 0
            address = await self._lightning_address(s)
            if address is not None and attempts < LUD16_ATTEMPTS:
                outcome = await self.desk.pay_lightning_address(s.id, amount, address)
                return await self._outcome(s, amount, outcome, attempts + 1)
            link = await self.desk.withdraw_link(s.id, amount)
            if link is not None and await self.notices.claim(s.id, f"refund_link:{attempts}"):
                await self.dm(s, texts.refund_link(amount, link.lnurl))
            return False
        if row.status is RefundStatus.PENDING:
            outcome = await self.desk.check_pending(s.id)
            return await self._outcome(s, amount, outcome, row.attempts)
        return False  # offered: the driver redeems the link; refund_settled wakes us

    async def _outcome(self, s: Session, amount: int, outcome: RefundOutcome, attempt: int) -> bool:
        if outcome.status is RefundStatus.PAID:
            return await self._refund_paid(s, amount, "lud16")
        self.rt.retry_at[s.id] = self.clock() + self.retry.delay(attempt)
        if outcome.status is RefundStatus.RELEASED:
            log.warning("session %s: refund attempt %d failed: %s", s.id, attempt, outcome.detail)
            await self.store.apply(s.id, State.REFUNDING, Event.REFUND_FAILED)
        return False

    async def _refund_paid(self, s: Session, amount: int, method: str) -> bool:
        if await self.notices.claim(s.id, "refund_done"):
            address = await self._lightning_address(s) if method == "lud16" else None
            await self.dm(s, texts.refund_done(amount, address))
        await self.store.apply(s.id, State.REFUNDING, Event.REFUND_PAID)
        self.rt.forget(s.id)
        return False

    async def _lightning_address(self, s: Session) -> str | None:
        if s.payer_pubkey is None or self.messenger is None:
            return None
        try:
            return await self.messenger.lightning_address_of(s.payer_pubkey)
        except ZapchargeError as error:
            log.warning("session %s: payer profile not read: %s", s.id, error)
            return None

    # -- helpers ----------------------------------------------------------------------------

    async def dm(self, s: Session, text: str) -> None:
        """A DM to the payer, if there is one; a failed DM never stops the session."""
        if s.payer_pubkey is None or self.messenger is None:
            return
        try:
            await self.messenger.send_dm(s.charger_id, s.payer_pubkey, text, s.payer_relays)
        except (ZapchargeError, OSError) as error:
            log.warning("session %s: DM not sent: %s", s.id, error)

    async def _quietly(self, s: Session, command: Awaitable[bool]) -> None:
        try:
            await command
        except (ChargerOffline, OcppError, SessionError) as error:
            charger_log(log, s.charger_id).warning("session %s: %s", s.id, error)
