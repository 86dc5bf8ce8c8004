"""The nostr side of a running bot, built from the config: what ``app.py`` wires in.

``NostrStack.build(config, db)`` gives the relay pool, the outbox (``enqueue`` for zap
receipts and anything else), the ``Messenger``, the ``StatusSink`` and the services to
run. DM commands are received only when a ``DriverCommands`` is passed in; the status
shows the prices of ``prices`` (the pricing service) or else each ``[tariff]`` price.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bot.config import ChargerConfig, Config
from bot.nostr.addresses import AddressBook
from bot.nostr.dms import DirectMessenger
from bot.nostr.inbox import DmReceiver
from bot.nostr.outbox import Outbox
from bot.nostr.pool import RelayPool
from bot.nostr.presence import PresencePublisher
from bot.nostr.status import StatusPublisher
from bot.ports import DriverCommands
from bot.pricing.point import PriceAt
from bot.store import Database
from bot.store.nostr import NostrStateStore
from bot.store.outbox import OutboxStore

__all__ = ["NostrStack"]


@dataclass
class NostrStack:
    pool: RelayPool
    outbox: Outbox
    messenger: DirectMessenger
    status: StatusPublisher
    presence: PresencePublisher
    receiver: DmReceiver | None

    async def fleet_changed(
        self, serving: Sequence[ChargerConfig], known: Sequence[ChargerConfig]
    ) -> None:
        """:class:`~bot.ports.FleetListener`: profiles of the serving chargers (new ones are
        published now); status, DMs and commands for every known one."""
        self.messenger.add_keys({c.id: c.keys for c in known})
        self.status.set_chargers(known)
        self.presence.set_chargers(serving)
        if self.receiver is not None:
            self.receiver.set_chargers(known)
        await self.presence.publish()

    async def refresh_charger(self, charger_id: str) -> int:
        """:class:`~bot.ports.EventsRefresh`: the charger's standing events again, and its
        status; returns how many standing events were queued."""
        count = await self.presence.publish(force=charger_id)
        self.status.charger_changed(charger_id)
        return count

    @property
    def services(self) -> list[Any]:
        """The ``bot.app.Service`` objects, in start order."""
        services: list[Any] = [self.pool, self.outbox, self.presence, self.status]
        if self.receiver is not None:
            services.append(self.receiver)
        return services

    @classmethod
    def build(
        cls,
        config: Config,
        db: Database,
        *,
        driver_commands: DriverCommands | None = None,
        prices: PriceAt | None = None,
        clock: Callable[[], float] = time.time,
        pool: RelayPool | None = None,
        status_interval_s: float = 3.0,
        status_ttl_s: float = 900.0,
    ) -> NostrStack:
        pool = pool or RelayPool.from_config(config)
        state = NostrStateStore(db)
        book = AddressBook(state, clock)
        outbox = Outbox(OutboxStore(db), pool, clock=clock)
        keys = {c.id: c.keys for c in config.chargers}
        messenger = DirectMessenger(
            keys, pool, outbox, nip04_fallback=config.dm.nip04_fallback, clock=clock
        )
        status = StatusPublisher(
            config.chargers,
            state,
            outbox,
            book,
            prices=prices,
            clock=clock,
            min_interval_s=status_interval_s,
            ttl_s=status_ttl_s,
        )
        presence = PresencePublisher(config, outbox, book, clock=clock)
        receiver = None
        if driver_commands is not None:
            receiver = DmReceiver(
                config.chargers, pool, messenger, driver_commands, state, clock=clock
            )
        return cls(pool, outbox, messenger, status, presence, receiver)
