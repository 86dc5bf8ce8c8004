"""The notice service: drivers waiting for a busy charger, told once when it is free.

``ask`` (the DM ``notify``) stores a waiting request, bounded: one per driver per charger
(a partial UNIQUE index), at most ``[drivers] notify_max_per_driver`` per driver overall,
each for at most ``notify_max_hours``. A charger that is free right now gets no request:
the answer says so at once.

The ticker reads what the OCPP side stored (online, connector status) and the sessions and
reservations that hold connectors, so it needs no callback from anyone, and a restart only
has to read the table again. Fair order: while a connector is free, the first waiting
driver of that charger is told; the next one only ``notify_next_after_s`` later, if the
connector is still free then (the first did not pay).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from bot.config import ChargerConfig, Config
from bot.errors import ZapchargeError
from bot.notify import texts
from bot.notify.machine import Event, State, advance
from bot.ports import Messenger
from bot.pricing.point import PriceAt
from bot.reservations.book import ReservationBook
from bot.sessions.machine import TOPUP_STATES
from bot.sessions.records import SessionRecords
from bot.sessions.settlement import format_msat
from bot.store.chargers import ChargerStore
from bot.store.db import Database
from bot.store.notify import NotifyStore

__all__ = ["NotifyService"]

log = logging.getLogger("bot.notify")


class NotifyService:
    name = "notify"

    def __init__(
        self,
        config: Config,
        db: Database,
        *,
        messenger: Messenger | None = None,
        prices: PriceAt | None = None,
        clock: Callable[[], float] = time.time,
        tick_s: float = 1.0,
    ) -> None:
        self.config, self.settings = config, config.drivers
        self.messenger, self.prices, self.clock, self.tick_s = messenger, prices, clock, tick_s
        self.store = NotifyStore(db, clock=clock)
        self.chargers = ChargerStore(db)
        self.sessions = SessionRecords(db, clock=clock)
        self.reservations = ReservationBook(db, clock=clock)

    # -- the driver's commands --------------------------------------------------------------

    async def ask(self, charger_id: str, pubkey: str) -> str:
        charger = self.config.charger(charger_id)
        if charger is None:
            return texts.notify_none(charger_id)
        if await self.free_connector(charger) is not None:
            price, how = await self._offer(charger)
            return texts.notify_free_now(charger.name, price, how)
        if any(r.charger_id == charger_id for r in await self.store.waiting_of(pubkey)):
            return texts.notify_already(charger.name)
        if len(await self.store.waiting_of(pubkey)) >= self.settings.notify_max_per_driver:
            return texts.notify_limit(self.settings.notify_max_per_driver)
        until = self.clock() + self.settings.notify_max_s
        if not await self.store.add(charger_id, pubkey, until):
            return texts.notify_already(charger.name)
        log.info("driver %s waits for %s", pubkey[:12], charger_id)
        return texts.notify_confirmed(charger.name, self.settings.notify_max_hours)

    async def off(self, charger_id: str, pubkey: str) -> str:
        charger = self.config.charger(charger_id)
        name = charger.name if charger is not None else charger_id
        for request in await self.store.waiting(charger_id):
            if request.driver_pubkey == pubkey and await self._move(request.id, Event.DRIVER_OFF):
                return texts.notify_cancelled(name)
        return texts.notify_none(name)

    # -- the Service ------------------------------------------------------------------------

    async def run(self) -> None:
        log.info("notify: %d driver(s) waiting", len(await self.store.waiting()))
        while True:
            try:
                await self.tick()
            except Exception:
                log.exception("notify ticker failed; trying again")
            await asyncio.sleep(self.tick_s)

    async def tick(self) -> None:
        now = self.clock()
        waiting = await self.store.waiting()
        for request in waiting:
            if now >= request.expires_at and await self._move(request.id, Event.TIME_UP):
                charger = self.config.charger(request.charger_id)
                name = charger.name if charger is not None else request.charger_id
                hours = self.settings.notify_max_hours
                await self._dm(
                    request.charger_id, request.driver_pubkey, texts.notify_gave_up(name, hours)
                )
        for charger_id in sorted({r.charger_id for r in waiting if now < r.expires_at}):
            charger = self.config.charger(charger_id)
            if charger is not None:
                await self._tell_next(charger, now)

    async def _tell_next(self, charger: ChargerConfig, now: float) -> None:
        last = await self.store.last_told_at(charger.id)
        if last is not None and now - last < self.settings.notify_next_after_s:
            return  # the one told last still has their minute
        connector_id = await self.free_connector(charger)
        if connector_id is None:
            return
        for request in await self.store.waiting(charger.id):
            if now < request.expires_at and await self._move(request.id, Event.CONNECTOR_FREE):
                price, how = await self._offer(charger)
                text = texts.notify_free(charger.name, connector_id, price, how)
                await self._dm(charger.id, request.driver_pubkey, text)
                log.info("told %s that %s is free", request.driver_pubkey[:12], charger.id)
                return

    async def _move(self, request_id: int, event: Event) -> bool:
        new = advance(State.WAITING, event)  # only waiting requests move
        return await self.store.move(request_id, State.WAITING.value, new.value)

    async def free_connector(self, charger: ChargerConfig) -> int | None:
        """A connector anyone may pay for now: online, Available, held by nobody."""
        row = await self.chargers.get(charger.id)
        if row is None or not row.online:
            return None
        statuses = await self.chargers.statuses(charger.id)
        reserved = {r.connector_id for r in await self.reservations.holding(charger.id)}
        for connector in charger.connectors:
            state = statuses.get(connector.id)
            if state is None or state.status != "Available" or connector.id in reserved:
                continue
            if not await self.sessions.active_on(charger.id, connector.id, TOPUP_STATES):
                return connector.id
        return None

    async def _offer(self, charger: ChargerConfig) -> tuple[str, str]:
        """The price of the moment, and how to pay."""
        per_kwh = charger.tariff.price_msat_per_kwh
        if self.prices is not None:
            try:
                point = await self.prices.price_at(
                    charger.id, datetime.fromtimestamp(self.clock(), UTC)
                )
                per_kwh = point.msat_per_kwh
            except ZapchargeError as error:
                log.warning("%s: no price of the moment: %s", charger.id, error)
        price = f"{format_msat(per_kwh)}/kWh"
        if charger.tariff.session_fee_msat:
            price += f" + {format_msat(charger.tariff.session_fee_msat)} per session"
        address = f"{charger.id}@{self.config.service.domain}"
        if charger.zapper is not None:
            address = charger.zapper.lightning_address
        how = f"Zap this charger, or pay {address} from any Lightning wallet, to start."
        return price, how

    async def _dm(self, charger_id: str, pubkey: str, text: str) -> None:
        if self.messenger is None:
            return
        try:
            await self.messenger.send_dm(charger_id, pubkey, text)
        except (ZapchargeError, OSError) as error:
            log.warning("notice to %s not sent: %s", pubkey[:12], error)
