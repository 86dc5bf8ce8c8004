"""The reservation service: fees paid, connectors held, and where each fee goes.

It fills :class:`~bot.ports.ReservationPayments` (a fee invoice is paid) and answers the
driver's ``cancel``. Its ticker walks every active reservation once per ``tick_s`` and does
what the stored state asks (:data:`bot.reservations.machine.RESUME`), which is also how a
restart resumes: each transition is persisted before the command or payment it allows.

What the charger says is read from the store the OCPP side keeps (online, connector
status), so this service needs no callback from it. Money leaves only through the session
layer: a fee counted toward a charge is a top-up of that session (``add_topup``, once per
payment hash), a fee that goes back is a refund-only session (``open_refund``, once per
payment hash), whose refund machinery claims before it pays.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable

from bot.config import Config
from bot.errors import ChargerOffline, OcppError, SessionError, ZapchargeError, is_retryable
from bot.log import charger_log
from bot.ports import ChargerReservations, Messenger
from bot.ports.lightning import InvoiceStatus, LightningBackend
from bot.reservations import texts
from bot.reservations.book import Reservation, ReservationBook
from bot.reservations.machine import Event, State, cancel_refund
from bot.sessions.ids import id_tag_for
from bot.sessions.machine import State as SessionState
from bot.sessions.record import TopUpResult
from bot.sessions.records import SessionRecords
from bot.sessions.texts import RESERVATION_REFUND_REASON
from bot.store.chargers import ChargerStore
from bot.store.db import Database

__all__ = ["ReservationService", "new_id_tag", "new_token"]

log = logging.getLogger("bot.reservations")

_NOT_PAID = (SessionState.QUOTED, SessionState.EXPIRED)
_QUOTE_CHECK_S = 60.0  # how often unpaid fee invoices are looked at
_QUOTE_AGE_S = 600.0  # the pay side's invoice expiry: younger ones are not asked about


def new_token() -> str:
    return secrets.token_urlsafe(32)


def new_id_tag() -> str:
    return id_tag_for("reservation:" + secrets.token_hex(16))


class ReservationService:
    name = "reservations"

    def __init__(
        self,
        config: Config,
        db: Database,
        control: ChargerReservations,
        *,
        messenger: Messenger | None = None,
        backend: LightningBackend | None = None,
        clock: Callable[[], float] = time.time,
        tick_s: float = 1.0,
    ) -> None:
        self.config, self.control, self.messenger = config, control, messenger
        self.backend = backend  # asked whether an unpaid fee invoice has expired
        self.clock, self.tick_s = clock, tick_s
        self.store = ReservationBook(db, clock=clock)
        self.sessions = SessionRecords(db, clock=clock)
        self.chargers = ChargerStore(db)
        self._offline_since: dict[str, float] = {}
        self._sent: set[int] = set()  # ReserveNow sent by this process (lost on restart)
        self._lock = asyncio.Lock()  # one walk at a time: the ticker and the commands
        self._quotes_checked = 0.0

    # -- the Service ------------------------------------------------------------------------

    async def run(self) -> None:
        log.info("reservations: resuming %d active reservation(s)", len(await self.store.active()))
        while True:
            try:
                await self.tick()
            except Exception:
                log.exception("reservation ticker failed; trying again")
            await asyncio.sleep(self.tick_s)

    async def tick(self) -> None:
        async with self._lock:
            self._watch_presence()
            for reservation in await self.store.active():
                await self._step(reservation)
            for reservation in await self.store.to_release():
                await self._release(reservation)
        if self.clock() - self._quotes_checked >= _QUOTE_CHECK_S:
            self._quotes_checked = self.clock()
            await self.expire_quotes()

    async def expire_quotes(self) -> None:
        """quoted -> unpaid, only once the node itself says the fee invoice expired (never
        on our own clock: a payment may still be on its way)."""
        if self.backend is None:
            return
        for r in await self.store.in_states([State.QUOTED]):
            if self.clock() - r.created_at < _QUOTE_AGE_S:
                continue
            invoice = await self.backend.lookup_invoice(r.payment_hash)
            if invoice is not None and invoice.status is InvoiceStatus.EXPIRED:
                await self.store.apply(r.id, State.QUOTED, Event.INVOICE_EXPIRED)

    # -- ReservationPayments ----------------------------------------------------------------

    async def charger_of(self, payment_hash: str) -> str | None:
        found = await self.store.by_payment_hash(payment_hash)
        return found.charger_id if found is not None else None

    async def reservation_paid(self, payment_hash: str, amount_msat: int, paid_at: int) -> None:
        found = await self.store.by_payment_hash(payment_hash)
        if found is None or found.state is not State.QUOTED:
            return  # a replayed notification: counted before
        await self.store.apply(found.id, State.QUOTED, Event.INVOICE_PAID, paid_msat=amount_msat)
        log.info("reservation %d paid: %d msat", found.id, amount_msat)

    # -- the driver's commands --------------------------------------------------------------

    async def mine(self, charger_id: str, pubkey: str) -> Reservation | None:
        held = [
            r
            for r in await self.store.holding(charger_id)
            if (r.payer_pubkey or "").lower() == pubkey.lower()
        ]
        return held[-1] if held else None

    async def cancel(self, reservation: Reservation | None) -> str:
        """The payer's ``cancel`` (DM or page): give back the share of time not used."""
        if reservation is None:
            return texts.no_reservation()
        async with self._lock:
            current = await self.store.load(reservation.id)
            if current.state in (State.PAID, State.RESERVING):
                return texts.cancel_not_yet()
            if current.state is not State.RESERVED or current.expires_at is None:
                return texts.no_reservation()
            now = self.clock()
            refund = cancel_refund(
                current.paid_msat, current.reserved_at or now, current.expires_at, now
            )
            moved = await self.store.apply(
                current.id,
                State.RESERVED,
                Event.DRIVER_CANCEL,
                refund_msat=refund,
                kept_msat=current.paid_msat - refund,
                end_reason="cancelled",
                release_pending=True,
            )
            if moved is None:
                return texts.no_reservation()
            await self._release(moved)
            await self._step(moved)
        if refund == 0:
            return texts.cancel_nothing(current.paid_msat)
        return texts.cancel_done(refund, current.paid_msat)

    async def hold_for(self, reservation_id: int, id_tag: str) -> None:
        """Point the charger's reservation at the idTag of the driver's new session (the
        same reservationId replaces it), so that session, and no other, may start there.
        Raises SessionError (or ChargerOffline / OcppError) when the charger does not."""
        async with self._lock:
            current = await self.store.load(reservation_id)
            if current.state is not State.RESERVED or current.expires_at is None:
                raise SessionError("the reservation is over")
            answer = await self.control.reserve_now(
                current.charger_id,
                current.connector_id,
                until=current.expires_at,
                id_tag=id_tag,
                reservation_id=current.id,
            )
            if answer != "Accepted":
                raise SessionError(f"the charger answered {answer}")
            if not await self.store.update(current.id, State.RESERVED, id_tag=id_tag):
                raise SessionError("the reservation is over")

    # -- the steps --------------------------------------------------------------------------

    def _watch_presence(self) -> None:
        now = self.clock()
        for charger in self.config.chargers:
            if self.control.is_online(charger.id):
                self._offline_since.pop(charger.id, None)
            else:
                self._offline_since.setdefault(charger.id, now)

    def _gone(self, charger_id: str) -> bool:
        since = self._offline_since.get(charger_id)
        grace = self.config.sessions.disconnect_timeout_s
        return since is not None and self.clock() - since >= grace

    async def _step(self, r: Reservation) -> None:
        try:
            if r.state is State.PAID:
                await self._reserve(r)
            elif r.state is State.RESERVING:
                await self._send_reserve(r)
            elif r.state is State.RESERVED:
                await self._watch(r)
            elif r.state is State.USED:
                await self._credit(r)
            elif r.state is State.REFUNDING:
                await self._refund(r)
        except (ChargerOffline, OcppError, SessionError) as error:
            charger_log(log, r.charger_id).warning("reservation %d: %s", r.id, error)

    async def _reserve(self, r: Reservation) -> None:
        if not self.control.is_online(r.charger_id):
            if self._gone(r.charger_id):
                await self._lose(r, Event.CHARGER_OFFLINE, "charger offline")
            return
        status = (await self.chargers.statuses(r.charger_id)).get(r.connector_id)
        busy = await self.sessions.active_on(r.charger_id, r.connector_id, _HOLDING_SESSIONS)
        if busy or status is None or status.status != "Available":
            await self._lose(r, Event.REFUSED, "connector taken")
            return
        now = self.clock()
        moved = await self.store.apply(
            r.id,
            State.PAID,
            Event.RESERVE_REQUESTED,
            reserved_at=now,
            expires_at=now + r.minutes * 60.0,
        )
        if moved is not None:
            await self._send_reserve(moved)

    async def _send_reserve(self, r: Reservation) -> None:
        assert r.expires_at is not None
        clog = charger_log(log, r.charger_id)
        try:
            answer = await self.control.reserve_now(
                r.charger_id,
                r.connector_id,
                until=r.expires_at,
                id_tag=r.id_tag,
                reservation_id=r.id,
            )
        except ChargerOffline:
            if self._gone(r.charger_id):
                await self._lose(r, Event.CHARGER_OFFLINE, "charger offline")
            return
        except OcppError as error:
            clog.warning("reservation %d: ReserveNow: %s", r.id, error)
            if not is_retryable(error):  # a CALLERROR (NotSupported, ...): it holds nothing
                await self._lose(r, Event.REFUSED, "charger takes no reservations")
            else:  # no answer: it may hold the connector; cancel it there once it answers
                await self._lose(r, Event.REFUSED, "charger did not answer", release=True)
            return
        finally:
            self._sent.add(r.id)
        if answer != "Accepted":
            await self._lose(r, Event.REFUSED, f"charger answered {answer}")
            return
        moved = await self.store.apply(r.id, State.RESERVING, Event.ACCEPTED)
        if moved is not None and moved.expires_at is not None:
            clog.info("reservation %d: connector %d held", r.id, r.connector_id)
            text = texts.reserved(
                moved.connector_id, moved.expires_at, moved.minutes, moved.paid_msat
            )
            await self._tell(moved, "reserved", text)

    async def _watch(self, r: Reservation) -> None:
        session = await self.sessions.by_id_tag(r.id_tag)
        if session is not None and session.state not in _NOT_PAID:
            moved = await self.store.apply(
                r.id, State.RESERVED, Event.SESSION_PAID, credited_session_id=session.id
            )
            if moved is not None:
                await self._credit(moved)
            return
        if r.expires_at is not None and self.clock() >= r.expires_at:
            moved = await self.store.apply(
                r.id,
                State.RESERVED,
                Event.TIME_UP,
                kept_msat=r.paid_msat,
                end_reason="expired",
                release_pending=True,
            )
            if moved is not None:
                await self._tell(moved, "expired", texts.expired(r.connector_id, r.paid_msat))
            return
        status = (await self.chargers.statuses(r.charger_id)).get(r.connector_id)
        if status is not None and status.status == "Faulted":
            await self._lose(r, Event.CHARGER_FAULT, "charger fault", release=True)
        elif self._gone(r.charger_id):
            await self._lose(r, Event.CHARGER_OFFLINE, "charger offline", release=True)

    async def _credit(self, r: Reservation) -> None:
        assert r.credited_session_id is not None
        result = await self.sessions.add_topup(
            r.credited_session_id, r.payment_hash, r.paid_msat, payer_pubkey=r.payer_pubkey
        )
        if result is TopUpResult.REFUSED:
            await self._lose(r, Event.CREDIT_REFUSED, "the charge ended first")
            return
        if await self.store.apply(r.id, State.USED, Event.CREDIT_APPLIED, end_reason="used"):
            log.info("reservation %d: fee counted in session %s", r.id, r.credited_session_id)
            await self._tell(r, "used", texts.used(r.paid_msat))

    async def _lose(self, r: Reservation, event: Event, why: str, *, release: bool = False) -> None:
        """The reservation cannot be kept: all of the fee goes back."""
        fields: dict[str, object] = {"refund_msat": r.paid_msat, "kept_msat": 0, "end_reason": why}
        if release:
            fields["release_pending"] = True
        moved = await self.store.apply(r.id, r.state, event, **fields)
        if moved is None:
            return
        charger_log(log, r.charger_id).warning("reservation %d lost: %s", r.id, why)
        await self._tell(moved, "lost", texts.ended(why, r.paid_msat))
        await self._refund(moved)

    async def _refund(self, r: Reservation) -> None:
        if not r.refund_msat:
            await self.store.apply(r.id, State.REFUNDING, Event.NOTHING_DUE)
            return
        refund = await self.sessions.open_refund(
            r, r.payment_hash, r.refund_msat, reason=RESERVATION_REFUND_REASON
        )
        await self.store.apply(
            r.id, State.REFUNDING, Event.REFUND_OPENED, refund_session_id=refund.id
        )
        log.info("reservation %d: %d msat refunded by session %s", r.id, r.refund_msat, refund.id)

    async def _release(self, r: Reservation) -> None:
        if not self.control.is_online(r.charger_id):
            return
        try:
            await self.control.cancel_reservation(r.charger_id, r.id)
        except ChargerOffline:
            return
        except OcppError as error:
            charger_log(log, r.charger_id).warning("reservation %d not released: %s", r.id, error)
            if is_retryable(error):
                return  # no answer: ask again on the next tick
            # A CALLERROR is an answer too: the charger holds nothing we could cancel.
        await self.store.released(r.id)

    async def _tell(self, r: Reservation, notice: str, text: str) -> None:
        if r.payer_pubkey is None or self.messenger is None:
            return
        if not await self.store.claim_notice(r.id, notice):
            return
        try:
            await self.messenger.send_dm(r.charger_id, r.payer_pubkey, text, r.payer_relays)
        except (ZapchargeError, OSError) as error:
            log.warning("reservation %d: DM not sent: %s", r.id, error)


_HOLDING_SESSIONS = (
    SessionState.PAID,
    SessionState.STARTING,
    SessionState.CHARGING,
    SessionState.STOPPING,
)
