"""Live charger status on the relays: kind 33600 for machines, NIP-38 kind 30315 for people.

Implements ``bot.ports.StatusSink``. ``charger_changed`` only marks the charger dirty; the
service reads the current state from the store when it publishes, so ten changes in a row
cost one event. The first change after a quiet spell goes out after ``gather_s`` (a
charger that connects, boots and reports its connectors within that time costs one status,
not three); further changes within ``min_interval_s`` wait for the end of that interval (a
flapping connector costs at most one status event per interval). Both events carry a
NIP-40 expiration ``ttl_s`` ahead, so a dead bot's status disappears, and are re-published
before that.

The price is the pricing service's price of the moment (``PriceAt``), with its source and
whether it is fresh, stale or a fallback (docs/nip-ev.md): the price a payment made now
gets. When its window ends (``valid_until``) the charger is looked at again, so a new price
goes out within ``min_interval_s`` of the window change. Prices that move with fetched data
(``PriceFeeds``: spot, green) are looked at again after every fetch, and the first events
after a start wait (at most ``first_price_wait_s``) for the first fetch of every feed, so
they do not go out with the fallback price a moment before the live one is known.

A charger that drops is shown Offline only once it has stayed away ``offline_grace_s``
(counted from its disconnect, also across a restart of the bot): a modem reset, a
reconnect storm or a restart of the bot does not flap 10,000 statuses to Offline and back.
Until then the relay keeps its last status (the LNURL side refuses payments at once).

Scale: when to look at each charger again (a change after its interval, a refresh before
expiry, a price window's end) sits in a heap, so a wake costs the chargers that are due,
not a pass over every charger; they are published ``batch`` at a time, yielding between
batches so OCPP keeps being served while 10,000 statuses go out after a start or a storm.
Our own events go to the outbox without being parsed and verified again. While a wave of
chargers connects (``yield_to``: the central system's ``connect_wave``), nothing is signed
for up to ``max_hold_s``: the BootNotification answers come first, the statuses right after.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import math
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from bot.config import ChargerConfig
from bot.config.pricing import GreenPricing, SpotPricing
from bot.nostr.addresses import AddressBook
from bot.nostr.events import (
    KIND_STATUS,
    KIND_USER_STATUS,
    PRICE_FALLBACK,
    PRICE_FRESH,
    PRICE_STALE,
    ChargerSnapshot,
    ConnectorState,
    coordinate,
    sign_event_with_id,
    status_tags,
    status_text,
    user_status_tags,
)
from bot.nostr.outbox import Outbox, own_event
from bot.pricing.point import PriceAt, PriceFeeds, PricePoint
from bot.store.nostr import ChargerState, NostrStateStore
from bot.store.outbox import NewOutboxEvent

__all__ = ["StatusPublisher", "TariffPrices", "snapshot_of"]

log = logging.getLogger(__name__)


class TariffPrices:
    """Each charger's ``[tariff]`` price: the status price when no pricing service is wired."""

    def __init__(self, chargers: Sequence[ChargerConfig]) -> None:
        self._points = {
            c.id: PricePoint(c.tariff.price_msat_per_kwh, "static", "[tariff]", False, None)
            for c in chargers
        }

    async def price_at(self, charger_id: str, when: datetime) -> PricePoint:
        return self._points[charger_id]


def _price_state(point: PricePoint) -> str:
    return PRICE_FALLBACK if point.fallback else PRICE_STALE if point.stale else PRICE_FRESH


def snapshot_of(
    charger: ChargerConfig, state: ChargerState | None, price: PricePoint
) -> ChargerSnapshot:
    """Configured connectors with their stored OCPP status ("Offline" when disconnected)."""
    online = state is not None and state.online
    connectors = tuple(
        ConnectorState(
            id=c.id,
            status=(state.connectors.get(c.id, "Unknown") if state and online else "Offline"),
            plug_type=c.type,
            max_power_w=c.max_power_w,
        )
        for c in charger.connectors
    )
    until = price.valid_until
    return ChargerSnapshot(
        charger.id,
        charger.name,
        online,
        connectors,
        price.msat_per_kwh,
        price.source,
        _price_state(price),
        None if until is None else math.ceil(until.timestamp()),
    )


class StatusPublisher:
    name = "nostr-status"

    def __init__(
        self,
        chargers: Sequence[ChargerConfig],
        store: NostrStateStore,
        outbox: Outbox,
        book: AddressBook,
        *,
        prices: PriceAt | None = None,
        clock: Callable[[], float] = time.time,
        min_interval_s: float = 3.0,
        ttl_s: float = 900.0,
        batch: int = 200,
        gather_s: float = 0.5,
        offline_grace_s: float = 60.0,
        first_price_wait_s: float = 15.0,
        busy: Callable[[], bool] | None = None,
        busy_pause_s: float = 0.25,
        max_hold_s: float = 20.0,
    ) -> None:
        self._chargers = {c.id: c for c in chargers}
        self._store = store
        self._outbox = outbox
        self._book = book
        self._prices = prices or TariffPrices(chargers)
        self._clock = clock
        self._min_interval_s = min_interval_s
        self._ttl_s = ttl_s
        self._refresh_before_s = ttl_s / 3
        self._dirty: set[str] = set(self._chargers)  # confirm every status after a start
        self._last: dict[str, float] = {}  # charger id -> when we last published it
        self._price_until: dict[str, float] = {}  # charger id -> end of its price window
        self._batch = batch
        self._gather_s = gather_s
        self._offline_grace_s = offline_grace_s
        self._held: dict[str, float] = {}  # charger id -> when its Offline may be shown
        self._changed_at: dict[str, float] = {}  # first change not yet published
        # (when, charger id): look at the charger then; stale entries are checked and dropped.
        self._timers: list[tuple[float, str]] = [(-math.inf, cid) for cid in self._chargers]
        self._pubkeys: dict[str, str] = {}  # asked of the key once, not per event
        self._wake = asyncio.Event()
        self._first_price_wait_s = first_price_wait_s
        self._busy = busy or (lambda: False)
        self._busy_pause_s = busy_pause_s
        self._max_hold_s = max_hold_s
        self._busy_since: float | None = None  # when the current wave of connects began
        self._moving = [c.id for c in chargers if isinstance(c.pricing, SpotPricing | GreenPricing)]
        if isinstance(self._prices, PriceFeeds):
            self._prices.on_change(self.prices_changed)

    def yield_to(self, busy: Callable[[], bool]) -> None:
        """While ``busy()`` (many chargers connecting: OCPP's time) publish nothing, for at
        most ``max_hold_s`` after the oldest change waiting; see :meth:`_stepping_back`."""
        self._busy = busy

    def _stepping_back(self, now: float) -> bool:
        """True while OCPP is busy with a wave of connects: signing and sending statuses
        then would slow the BootNotification answers down. A change that has waited
        ``max_hold_s``, or a wave that has lasted that long, holds nothing back any longer
        (a 33600 is due on the relay within a minute of its BootNotification)."""
        if not self._busy():
            self._busy_since = None
            return False
        if self._busy_since is None:
            self._busy_since = now
        oldest = min(self._changed_at.values(), default=now)
        return now - min(oldest, self._busy_since) < self._max_hold_s

    def prices_changed(self) -> None:
        """New feed data: the chargers priced from feeds are looked at again (an unchanged
        price costs nothing: the fingerprint is the same)."""
        now = self._clock()
        for charger_id in self._moving:
            self._dirty.add(charger_id)
            self._changed_at.setdefault(charger_id, now)
            heapq.heappush(self._timers, (self._change_due(charger_id), charger_id))
        if self._moving:
            self._wake.set()

    def set_chargers(self, chargers: Sequence[ChargerConfig]) -> None:
        """After a reload: publish these chargers' status; the new ones right away."""
        new = {c.id: c for c in chargers}
        self._dirty.update(cid for cid in new if new[cid] != self._chargers.get(cid))
        self._dirty.intersection_update(new)
        self._chargers = new
        if isinstance(self._prices, TariffPrices):
            self._prices = TariffPrices(chargers)
        self._wake.set()

    def charger_changed(self, charger_id: str) -> None:
        if charger_id in self._chargers:
            self._dirty.add(charger_id)
            self._held.pop(charger_id, None)  # back already? publish() looks again
            self._changed_at.setdefault(charger_id, self._clock())
            # Its coalescing time; _take_due checks the whole deadline when it is due.
            heapq.heappush(self._timers, (self._change_due(charger_id), charger_id))
            self._wake.set()

    def _change_due(self, charger_id: str) -> float:
        return max(
            self._last.get(charger_id, -math.inf) + self._min_interval_s,
            self._changed_at.get(charger_id, -math.inf) + self._gather_s,
        )

    def _remind(self, charger_id: str) -> None:
        heapq.heappush(self._timers, (self._deadline(charger_id), charger_id))

    def _pubkey(self, charger: ChargerConfig) -> str:
        pubkey = self._pubkeys.get(charger.id)
        if pubkey is None:
            pubkey = self._pubkeys[charger.id] = charger.keys.public_key_hex
        return pubkey

    def _address(self, charger: ChargerConfig) -> str:
        return coordinate(KIND_STATUS, self._pubkey(charger), charger.id)

    def _expiry(self, charger_id: str) -> float:
        state = self._book.get(self._address(self._chargers[charger_id]))
        return -math.inf if state is None or state.expires_at is None else state.expires_at

    def _deadline(self, charger_id: str) -> float:
        refresh = self._expiry(charger_id) - self._refresh_before_s
        refresh = min(refresh, self._price_until.get(charger_id, math.inf))
        held = self._held.get(charger_id)
        if held is not None:
            return max(held, min(refresh, self._change_due(charger_id)))
        if charger_id not in self._dirty:
            return refresh
        return min(refresh, self._change_due(charger_id))

    def _take_due(self, now: float) -> list[str]:
        """Up to ``batch`` chargers whose time has come (each once)."""
        due: dict[str, None] = {}
        while self._timers and self._timers[0][0] <= now and len(due) < self._batch:
            _, charger_id = heapq.heappop(self._timers)
            if charger_id in due:
                continue
            deadline = self._deadline(charger_id)
            if deadline > now:  # a stale reminder: the charger was looked at since
                heapq.heappush(self._timers, (deadline, charger_id))
                continue
            due[charger_id] = None
        return list(due)

    async def run(self) -> None:
        await self._book.load()
        if isinstance(self._prices, PriceFeeds):
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._first_price_wait_s):
                    await self._prices.first_round()
        while True:
            self._wake.clear()
            now = self._clock()
            if self._stepping_back(now):
                await asyncio.sleep(self._busy_pause_s)
                continue
            due = self._take_due(now)
            if due:
                try:
                    await self.publish(due)
                except Exception:  # the store or a signer failed: keep the service alive
                    log.exception("status publish of %d charger(s) failed; retrying", len(due))
                    self._dirty.update(due)
                    for charger_id in due:
                        self._remind(charger_id)
                    await asyncio.sleep(1.0)
                await asyncio.sleep(0)  # the next batch after OCPP had its turn
                continue
            soonest = self._timers[0][0] if self._timers else now + 60
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a
            # cancellation that arrives as the event is set, and the service never stops.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, soonest - now)):
                    await self._wake.wait()

    async def publish(self, charger_ids: Sequence[str]) -> None:
        """Publish the current status of these chargers (unchanged ones only if expiring)."""
        await self._book.load()
        states = await self._store.charger_states(charger_ids)
        now = self._clock()
        events: list[NewOutboxEvent] = []
        published: list[tuple[str, int, str, float]] = []
        for charger_id in charger_ids:
            charger = self._chargers[charger_id]
            state = states.get(charger_id)
            previous = self._book.get(self._address(charger))
            if self._hold_offline(charger_id, state, previous is not None, now):
                continue
            self._dirty.discard(charger_id)
            self._changed_at.pop(charger_id, None)
            price = await self._price_of(charger_id, now)
            snapshot = snapshot_of(charger, state, price)
            fresh = self._expiry(charger_id) - self._refresh_before_s > now
            if fresh and previous is not None and previous.fingerprint == snapshot.fingerprint():
                self._remind(charger_id)  # its refresh, or its price window's end
                continue
            events += self._sign(charger, snapshot, published)
            self._last[charger_id] = now
        if events:
            await self._outbox.enqueue_signed(events)
            await self._book.published_many(published)
        for charger_id in charger_ids:
            if charger_id not in self._dirty or charger_id in self._held:
                self._remind(charger_id)

    def _hold_offline(
        self, charger_id: str, state: ChargerState | None, shown: bool, now: float
    ) -> bool:
        """True while a charger that dropped a moment ago keeps its last status shown."""
        self._held.pop(charger_id, None)
        if not shown or state is None or state.online or state.last_seen is None:
            return False
        until = state.last_seen + self._offline_grace_s
        if until <= now:
            return False
        self._held[charger_id] = until
        return True

    async def _price_of(self, charger_id: str, now: float) -> PricePoint:
        """The price of the moment; notes when to look again (its window's end)."""
        point = await self._prices.price_at(charger_id, datetime.fromtimestamp(now, UTC))
        if point.valid_until is None:
            self._price_until.pop(charger_id, None)
        else:  # a window that is already over must not make the loop spin
            until = point.valid_until.timestamp()
            self._price_until[charger_id] = max(until, now + self._min_interval_s)
        return point

    def _sign(
        self,
        charger: ChargerConfig,
        snapshot: ChargerSnapshot,
        published: list[tuple[str, int, str, float]],
    ) -> list[NewOutboxEvent]:
        """Sign the 33600 and 30315 events; note their addresses in ``published``."""
        keys, pubkey = charger.keys, self._pubkey(charger)
        text, fingerprint = status_text(snapshot), snapshot.fingerprint()
        status_address = self._address(charger)
        created = self._book.next_created_at(status_address)
        expires = created + int(self._ttl_s)
        tags = status_tags(pubkey, charger, snapshot, expires)
        status = sign_event_with_id(keys, KIND_STATUS, text, tags, created)
        human_address = coordinate(KIND_USER_STATUS, pubkey, "general")
        human_created = self._book.next_created_at(human_address)
        human_expires = human_created + int(self._ttl_s)
        human_tags = user_status_tags(pubkey, charger.id, human_expires)
        human = sign_event_with_id(keys, KIND_USER_STATUS, text, human_tags, human_created)
        published.append((status_address, created, fingerprint, expires))
        published.append((human_address, human_created, fingerprint, human_expires))
        log.debug("[%s] status: %s", charger.id, text)
        return [
            own_event(*status, KIND_STATUS, pubkey, tags),
            own_event(*human, KIND_USER_STATUS, pubkey, human_tags),
        ]
