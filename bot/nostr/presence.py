"""Each charger's standing identity on the relays: kind 0, 10002, 10050 and 33000.

Published at start-up and then once a day, but only where something changed or the last
copy is older than ``refresh_s``: a restart of a bot with 200 chargers does not resend 800
unchanged events. The fingerprint compares content and tags, not ``created_at``.

And where a relay lacks them: ``check_after_s`` after a start (once this start's events
have had time to go out), every write relay is asked which of our chargers' four kinds it
holds (:class:`RelayHoldings`), and what one lacks is signed again, unless the outbox is
still trying to deliver it. A relay that was wiped, or added to ``relays.toml``, gets
the presence of every charger; the others get nothing new.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from bot.config import ChargerConfig, Config
from bot.nostr.addresses import AddressBook
from bot.nostr.events import (
    KIND_DM_RELAYS,
    KIND_LOCATION,
    KIND_PROFILE,
    KIND_RELAY_LIST,
    address_of,
    dm_relay_tags,
    location_tags,
    profile_content,
    relay_list_tags,
    sign_event_with_id,
)
from bot.nostr.outbox import Outbox, own_event
from bot.store.outbox import NewOutboxEvent

__all__ = ["BasePrice", "PresencePublisher", "RelayHoldings", "base_price", "presence_parts"]

PRESENCE_KINDS = (KIND_PROFILE, KIND_RELAY_LIST, KIND_DM_RELAYS, KIND_LOCATION)


class RelayHoldings(Protocol):
    """What a relay holds (``bot.nostr.pool.RelayPool``)."""

    @property
    def write_relays(self) -> tuple[str, ...]: ...

    async def held_by(
        self, url: str, kinds: Sequence[int], authors: Sequence[str]
    ) -> set[tuple[int, str]] | None: ...


log = logging.getLogger(__name__)

Part = tuple[int, str, list[list[str]]]  # kind, content, tags

BasePrice = Callable[[ChargerConfig], int]
"""The base price of the location event (msat per kWh); the live one is in the status."""


def base_price(charger: ChargerConfig) -> int:
    return charger.tariff.price_msat_per_kwh


def presence_parts(config: Config, charger: ChargerConfig, price: int) -> list[Part]:
    """The four standing events of one charger, unsigned."""
    service = config.service
    return [
        (KIND_PROFILE, profile_content(charger, service.public_url, service.domain), []),
        (KIND_RELAY_LIST, "", relay_list_tags(config.relays)),
        (KIND_DM_RELAYS, "", dm_relay_tags(config.read_relays)),
        (KIND_LOCATION, charger.about, location_tags(charger, price, service.public_url)),
    ]


def _fingerprint(content: str, tags: Sequence[Sequence[str]]) -> str:
    blob = json.dumps([content, tags], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


class PresencePublisher:
    name = "nostr-presence"

    def __init__(
        self,
        config: Config,
        outbox: Outbox,
        book: AddressBook,
        *,
        price: BasePrice = base_price,
        clock: Callable[[], float] = time.time,
        refresh_s: float = 86400.0,
        batch: int = 100,
        holdings: RelayHoldings | None = None,
        check_after_s: float = 120.0,
    ) -> None:
        self._config = config
        self._outbox = outbox
        self._book = book
        self._price = price
        self._clock = clock
        self._refresh_s = refresh_s
        self._batch = batch  # chargers signed between two turns of the event loop
        self._holdings = holdings
        self._check_after_s = check_after_s

    async def run(self) -> None:
        await self._book.load()
        checked = self._holdings is None
        while True:
            count = await self.publish()
            if count:
                log.info("queued %d profile, relay list and location event(s)", count)
            if not checked:
                checked = True
                await asyncio.sleep(self._check_after_s)
                count = await self.republish_missing()
                if count:
                    log.info("queued %d presence event(s) a relay lacked", count)
            await asyncio.sleep(min(3600.0, self._refresh_s))

    async def republish_missing(self) -> int:
        """Sign again what a write relay lacks (and the outbox is not sending already)."""
        if self._holdings is None:
            return 0
        await self._book.load()
        chargers = self._config.chargers
        authors = [c.keys.public_key_hex for c in chargers]
        sending = await self._outbox.pending_addresses(PRESENCE_KINDS)
        missing: set[str] = set()
        for url in self._holdings.write_relays:
            held = await self._holdings.held_by(url, PRESENCE_KINDS, authors)
            if held is None:
                continue  # not reachable now: the next check, or the next start, asks again
            for charger, pubkey in zip(chargers, authors, strict=True):
                for kind in PRESENCE_KINDS:
                    identifier = charger.id if kind == KIND_LOCATION else ""
                    address = f"{kind}:{pubkey}:{identifier}"
                    if (kind, pubkey) not in held and address not in sending:
                        missing.add(address)
        if not missing:
            return 0
        count = 0
        for first in range(0, len(chargers), self._batch):
            count += await self._publish(chargers[first : first + self._batch], missing)
            await asyncio.sleep(0)
        return count

    async def publish(self) -> int:
        """Queue every standing event that changed or is due for a refresh.

        In batches, with a turn of the event loop between them: the first start of 10,000
        chargers signs 40,000 events, and OCPP must be served meanwhile.
        """
        await self._book.load()
        chargers = self._config.chargers
        count = 0
        for first in range(0, len(chargers), self._batch):
            count += await self._publish(chargers[first : first + self._batch])
            await asyncio.sleep(0)
        return count

    async def _publish(
        self, chargers: Sequence[ChargerConfig], missing: set[str] | frozenset[str] = frozenset()
    ) -> int:
        now = self._clock()
        events: list[NewOutboxEvent] = []
        published: list[tuple[str, int, str, float | None]] = []
        for charger in chargers:
            pubkey = charger.keys.public_key_hex
            for kind, content, tags in presence_parts(self._config, charger, self._price(charger)):
                address = address_of(kind, pubkey, tags)
                assert address is not None  # all four kinds are replaceable
                fingerprint = _fingerprint(content, tags)
                last = self._book.get(address)
                if (
                    last
                    and last.fingerprint == fingerprint
                    and now - last.published_at < self._refresh_s
                    and address not in missing
                ):
                    continue
                created_at = self._book.next_created_at(address)
                signed = sign_event_with_id(charger.keys, kind, content, tags, created_at)
                events.append(own_event(*signed, kind, pubkey, tags))
                published.append((address, created_at, fingerprint, None))
        if events:
            await self._outbox.enqueue_signed(events, background=True)
            await self._book.published_many(published)
        return len(events)
