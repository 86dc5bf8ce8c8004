"""Sending DMs from a charger to a driver, and reading what drivers publish about themselves.

Implements ``bot.ports.Messenger``. A DM goes as a NIP-17 gift wrap to the driver's kind
10050 relays; without such a list, to the relays the caller names (the driver's zap
request relays); and always to our write relays too (the outbox adds them). A legacy
NIP-04 copy is sent only when ``[dm] nip04_fallback`` is on and the driver has no 10050
list (their client probably predates NIP-17) or wrote to us with NIP-04 themselves.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from bot.config.keys import ChargerKeys, npub_to_hex
from bot.errors import NostrError
from bot.nostr.dm_codec import gift_wrap, nip04_message
from bot.nostr.outbox import Outbox
from bot.nostr.pool import RelayPool
from bot.nostr.profiles import DriverProfile, fetch_profile, well_formed_lud16

__all__ = ["DirectMessenger", "DriverProfile"]

log = logging.getLogger(__name__)

_CACHE_SIZE = 10_000


class DirectMessenger:
    def __init__(
        self,
        keys: Mapping[str, ChargerKeys],
        pool: RelayPool,
        outbox: Outbox,
        *,
        nip04_fallback: bool = False,
        clock: Callable[[], float] = time.time,
        cache_ttl_s: float = 60.0,
        fetch_timeout_s: float = 3.0,
    ) -> None:
        self._keys = dict(keys)
        self._pool = pool
        self._outbox = outbox
        self._nip04 = nip04_fallback
        self._clock = clock
        self._ttl_s = cache_ttl_s
        self._fetch_timeout_s = fetch_timeout_s
        self._cache: OrderedDict[str, tuple[float, DriverProfile]] = OrderedDict()

    async def send_dm(
        self,
        charger_id: str,
        recipient_pubkey: str,
        text: str,
        fallback_relays: Sequence[str] = (),
    ) -> None:
        await self.send(charger_id, recipient_pubkey, text, fallback_relays)

    async def send(
        self,
        charger_id: str,
        recipient_pubkey: str,
        text: str,
        fallback_relays: Sequence[str] = (),
        *,
        nip04: bool | None = None,
    ) -> list[int]:
        """Queue the DM in the outbox; returns the outbox row ids.

        ``nip04``: add a NIP-04 copy (only ever when the config allows it): True when
        replying to a NIP-04 command, False when the driver just used NIP-17, None to
        decide by the driver's relay lists.
        """
        keys = self._keys.get(charger_id)
        if keys is None:
            raise NostrError(f"no charger {charger_id!r} to send a DM from")
        try:
            recipient = npub_to_hex(recipient_pubkey)
        except ValueError as exc:
            raise NostrError(str(exc)) from None
        profile = await self.profile_of(recipient)
        relays = profile.dm_relays or tuple(fallback_relays)
        events: list[tuple[str, Sequence[str]]] = [(gift_wrap(keys, recipient, text), relays)]
        if nip04 is None:
            nip04 = not profile.dm_relays
        if self._nip04 and nip04:
            now = int(self._clock())
            events.append((nip04_message(keys, recipient, text, now), relays))
        ids = await self._outbox.enqueue_many(events)
        log.info("[%s] DM to %s queued (%d event(s))", charger_id, recipient[:12], len(ids))
        return ids

    async def lightning_address_of(self, pubkey: str) -> str | None:
        try:
            return (await self.profile_of(npub_to_hex(pubkey))).lud16
        except ValueError:
            return None

    async def profile_of(self, pubkey: str) -> DriverProfile:
        """The driver's ``lud16`` and DM relays from the read relays, cached briefly."""
        now = self._clock()
        cached = self._cache.get(pubkey)
        if cached is not None and cached[0] > now:
            return cached[1]
        fetched = await fetch_profile(self._pool, pubkey, self._fetch_timeout_s)
        profile = replace(fetched, lud16=well_formed_lud16(fetched.lud16))
        self._cache[pubkey] = (now + self._ttl_s, profile)
        self._cache.move_to_end(pubkey)
        while len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)
        return profile
