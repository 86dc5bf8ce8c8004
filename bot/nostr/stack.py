"""The nostr side of a running bot, built from the config: what ``app.py`` wires in.

``NostrStack.build(config, db)`` gives the relay pool, the outbox (``enqueue`` for zap
receipts and anything else), the ``Messenger``, the ``StatusSink`` and the services to
run; the status shows the prices of ``prices`` (the pricing service) or else each
``[tariff]`` price. :meth:`NostrStack.dm_receiver` then makes the Service that receives
DM commands for a ``DriverCommands`` (the session inbox, which itself needs the status
sink: so the stack is built first, the receiver after, and nothing is attached later).
"""

from __future__ import annotations

import time
from collections.abc import Callable
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
    state: NostrStateStore
    chargers: tuple[ChargerConfig, ...]
    clock: Callable[[], float]

    @property
    def services(self) -> list[Any]:
        """The ``bot.app.Service`` objects, in start order (the DM receiver comes apart)."""
        return [self.pool, self.outbox, self.presence, self.status]

    def dm_receiver(self, commands: DriverCommands) -> DmReceiver:
        """The Service that answers DM commands with ``commands``, through this stack."""
        return DmReceiver(
            self.chargers, self.pool, self.messenger, commands, self.state, clock=self.clock
        )

    @classmethod
    def build(
        cls,
        config: Config,
        db: Database,
        *,
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
        presence = PresencePublisher(config, outbox, book, clock=clock, holdings=pool)
        return cls(pool, outbox, messenger, status, presence, state, config.chargers, clock)
