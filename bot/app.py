"""Wiring: build the services from the config and run them under one TaskGroup.

Every long-running task belongs to the group in :func:`run_services`. SIGINT or SIGTERM
sets the stop event; the group is then cancelled, each service unwinds in its own
``finally``, and the database is closed last.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Protocol

from bot.config import PASSPHRASE_ENV, ChargerConfig, Config, load_identities
from bot.fleet import Fleet
from bot.ports import FleetListener
from bot.ports.lightning import LightningBackend
from bot.pricing.service import PricingService
from bot.store import Database
from bot.store.chargers import ChargerStore
from bot.store.pricing import PriceFeedCache

__all__ = [
    "YOUNG_COLLECTION_EVERY",
    "Service",
    "build_fleet",
    "build_services",
    "run_services",
    "serve",
    "tune_collector",
]

log = logging.getLogger(__name__)

# Python's cyclic collector looks at the young objects every 700 allocations: right for a
# small program, not for a process holding 10,000 chargers (1.4 million long-lived
# objects). In a reconnect storm the objects of the handshakes in flight were alive at
# nearly every young collection, so they were promoted, and each time a quarter of the heap
# had been promoted a full collection walked all of it: 10.9 of a storm's 31.5 CPU-seconds
# went to the collector (measured at 10,000 chargers; 2.9 of 16.4 when looking every 10,000
# allocations, 2.0 of 20.0 and no full collection every 50,000). Most of those objects are
# gone before the collector looks; reference counting frees all that is not in a cycle
# at once, so only cyclic garbage waits longer (at most this many young objects).
YOUNG_COLLECTION_EVERY = 50_000


class Service(Protocol):
    """A long-running part of the bot: ``run`` returns only when cancelled or broken."""

    name: str

    async def run(self) -> None: ...


class _After:
    """A service that starts once ``ready()`` returns."""

    def __init__(self, service: Service, ready: Callable[[], Awaitable[object]]) -> None:
        self.name = service.name
        self._service = service
        self._ready = ready

    async def run(self) -> None:
        await self._ready()
        await self._service.run()


class _Closing:
    """Keeps the Lightning backend for the services and closes it when they stop (an NWC
    backend holds relay connections; Core Lightning's holds nothing)."""

    name = "lightning-backend"

    def __init__(self, backend: LightningBackend) -> None:
        self._backend = backend

    async def run(self) -> None:
        try:
            await asyncio.Event().wait()
        finally:
            await self._backend.close()


class _StopRequested(Exception):
    pass


async def run_services(services: Sequence[Service], stop: asyncio.Event) -> None:
    """Run every service until ``stop`` is set; a service that fails stops them all."""
    try:
        async with asyncio.TaskGroup() as group:
            for service in services:
                group.create_task(service.run(), name=service.name)
            await stop.wait()
            raise _StopRequested
    except* _StopRequested:
        log.info("stopped")


async def register_chargers(config: Config, db: Database) -> None:
    """Record each configured charger so that later rows can point at it."""
    await ChargerStore(db).register([(c.id, c.keys.public_key_hex) for c in config.chargers])


def build_fleet(config: Config, db: Database, listeners: Sequence[FleetListener]) -> Fleet:
    """Reloads of identities/ (``zapcharge reload``, SIGHUP), told to ``listeners``."""
    from bot.sessions.machine import State
    from bot.sessions.records import SessionRecords

    needs_charger = (State.QUOTED, State.PAID, State.STARTING, State.CHARGING, State.STOPPING)

    # Read once, at start-up, like the rest of the environment: a reload needs it again.
    passphrase = os.environ.get(PASSPHRASE_ENV)
    sessions = SessionRecords(db)

    async def unfinished(charger_id: str) -> int:
        """Sessions that still need the charger itself; settling and refunds do not."""
        waiting = await sessions.list_by_state(*needs_charger)
        return sum(1 for s in waiting if s.charger_id == charger_id)

    async def register(chargers: Sequence[ChargerConfig]) -> None:
        await ChargerStore(db).register([(c.id, c.keys.public_key_hex) for c in chargers])

    return Fleet(
        config.chargers,
        load=lambda: load_identities(config.service.identities_dir, passphrase),
        listeners=listeners,
        register=register,
        unfinished=unfinished,
    )


def build_services(config: Config, db: Database) -> list[Service]:
    """The services of a running bot, each built once with all it needs.

    In dependency order, so nothing is attached later: the session inbox needs only the
    status sink; the OCPP server, the pay side, the DM receiver and the receipt listener
    report to the inbox; the session service acts through the charger control, messenger
    and refund desk they provide. A second charger protocol or Lightning backend fills
    the same ports (bot.ports) and is chosen here."""
    from bot.console.build import build_console
    from bot.lightning import build_backend
    from bot.lnurl.codec import encode_lnurl
    from bot.lnurl.page import SessionPage
    from bot.lnurl.reservation_page import ReservationPage
    from bot.lnurl.server import HttpServer
    from bot.lnurl.stack import LnurlStack
    from bot.nostr.receipt_feed import RelayReceiptFeed
    from bot.nostr.stack import NostrStack
    from bot.notify.desk import DriverDesk
    from bot.notify.service import NotifyService
    from bot.ocpp import CentralSystem
    from bot.receipts.listener import ReceiptListener
    from bot.reservations.service import ReservationService
    from bot.sessions.inbox import SessionInbox
    from bot.sessions.quotes import pricing_quote
    from bot.sessions.records import SessionRecords
    from bot.sessions.refunding import refund_rows
    from bot.sessions.workers import SessionWorkers

    backend = build_backend(config.lightning, db)  # one backend, shared by every part
    pricing = PricingService.from_chargers(config.chargers, PriceFeedCache(db))
    quote = pricing_quote(pricing)  # the price of the moment binds the session
    nostr = NostrStack.build(config, db, prices=pricing)
    inbox = SessionInbox(config, db, status=nostr.status)
    central = CentralSystem(config, db, inbox)
    nostr.status.yield_to(central.connect_wave)  # statuses wait while a fleet connects
    reservations = ReservationService(
        config, db, central, messenger=nostr.messenger, backend=backend
    )
    notify = NotifyService(config, db, messenger=nostr.messenger, prices=pricing)
    dms = nostr.dm_receiver(DriverDesk(inbox, notify, reservations))  # every DM command
    lnurl = LnurlStack.build(
        config,
        db,
        backend,
        outbox=nostr.outbox,
        sessions=inbox,
        refund_events=inbox,
        quote=quote,
        prices=pricing,  # and is shown in the LNURL metadata
        holds=reservations,
        reservation_payments=reservations,
    )
    sessions = SessionWorkers(
        config,
        db,
        inbox,
        control=central,
        messenger=nostr.messenger,
        refunds=lnurl.refunds,
        backend=backend,
    )
    page = SessionPage(inbox, refund_rows(db), lnurl.refunds)
    reservation_page = ReservationPage(
        reservations, SessionRecords(db), config.service.public_url, encode_lnurl
    )
    listeners: list[FleetListener] = [central, inbox, sessions, lnurl, nostr, pricing]
    listeners += [reservations, notify]
    fleet = build_fleet(config, db, listeners)
    console = build_console(
        config,
        db,
        sessions=inbox,
        control=central,
        prices=pricing,
        refresher=nostr,
        roster=fleet,
        reload=fleet.reload,
    )
    http = HttpServer(config.http.listen, [page, reservation_page, console, *lnurl.providers])
    # The nostr side loads every charger's state (addresses, subscriptions) when it starts:
    # with 10,000 chargers that is seconds, so it waits until chargers can connect.
    relay_side = [_After(s, central.started) for s in [*nostr.services, dms]]
    services: list[Service] = [pricing, central, http, *relay_side, sessions]
    services += [lnurl.watcher, reservations, notify, fleet, _Closing(backend)]
    feed = RelayReceiptFeed(nostr.pool)
    receipts = ReceiptListener.from_config(config, db, feed, backend, inbox, quote=quote)
    if receipts is not None:  # chargers that keep the operator's own zapper
        services.append(receipts)
    return services


def tune_collector() -> None:
    """For ``zapcharge run``, once the config is loaded: collect young objects less often
    (see ``YOUNG_COLLECTION_EVERY``), and freeze what exists now (the configured chargers,
    their keys) so that no later collection walks it again. Frozen objects are still freed
    by reference counting; only a cycle among them would be kept."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_EVERY, middle, old)


async def serve(config: Config, stop: asyncio.Event | None = None) -> None:
    """Open the store, run every service until SIGINT/SIGTERM, and close cleanly.

    SIGHUP reloads identities/ (what ``zapcharge reload`` does through the console)."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    started = time.monotonic()
    db = await Database.open(config.service.database_path)
    pid_path = config.service.pid_path
    try:
        await register_chargers(config, db)
        services = build_services(config, db)
        for service in services:
            if isinstance(service, Fleet):
                loop.add_signal_handler(signal.SIGHUP, service.requested.set)
        _write_pid(pid_path)
        log.info("zapcharge running: %d charger(s), database %s", len(config.chargers), db.path)
        await run_services(services, stop)
    finally:
        with contextlib.suppress(FileNotFoundError):
            pid_path.unlink()
        await db.close()
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.remove_signal_handler(signum)
        log.info("shut down after %.1f s; database closed", time.monotonic() - started)


def _write_pid(path: Path) -> None:
    path.write_text(f"{os.getpid()}\n", encoding="ascii")
