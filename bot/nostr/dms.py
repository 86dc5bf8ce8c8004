"""Sending DMs from a charger to a driver, and reading what drivers publish about themselves.

Implements ``bot.ports.Messenger``. A DM goes as a NIP-17 gift wrap to the driver's kind
10050 relays; without such a list, to the relays the caller names (the driver's zap
request relays); and always to our write relays too (the outbox adds them). A legacy
NIP-04 copy is sent only when ``[dm] nip04_fallback`` is on and the driver has no 10050
list (their client probably predates NIP-17) or wrote to us with NIP-04 themselves.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import nostr_sdk

from bot.errors import NostrError
from bot.nostr.dm_codec import gift_wrap, nip04_message
from bot.nostr.events import KIND_DM_RELAYS, KIND_PROFILE
from bot.nostr.keys import ChargerKeys, npub_to_hex
from bot.nostr.outbox import Outbox
from bot.nostr.pool import RelayPool

__all__ = ["DirectMessenger", "DriverProfile"]

log = logging.getLogger(__name__)

_LUD16 = re.compile(
    r"^[a-z0-9._+-]+@[a-z0-9.-]+\.[a-z]{2,}(:\d+)?$|^[a-z0-9._+-]+@localhost(:\d+)?$"
)
_CACHE_SIZE = 10_000


@dataclass(frozen=True)
class DriverProfile:
    lud16: str | None
    dm_relays: tuple[str, ...]


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
        profile = await self._fetch_profile(pubkey)
        self._cache[pubkey] = (now + self._ttl_s, profile)
        self._cache.move_to_end(pubkey)
        while len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)
        return profile

    async def _fetch_profile(self, pubkey: str) -> DriverProfile:
        query = (
            nostr_sdk.Filter()
            .author(nostr_sdk.PublicKey.parse(pubkey))
            .kinds([nostr_sdk.Kind(KIND_PROFILE), nostr_sdk.Kind(KIND_DM_RELAYS)])
        )
        newest: dict[int, nostr_sdk.Event] = {}
        for event in await self._pool.fetch([query], self._fetch_timeout_s):
            kind = event.kind().as_u16()
            if (
                kind not in newest
                or event.created_at().as_secs() > newest[kind].created_at().as_secs()
            ):
                newest[kind] = event
        lud16 = _lud16(newest[KIND_PROFILE].content()) if KIND_PROFILE in newest else None
        relays: tuple[str, ...] = ()
        if KIND_DM_RELAYS in newest:
            relays = tuple(
                str(t.to_vec()[1])
                for t in newest[KIND_DM_RELAYS].tags()
                if len(t.to_vec()) >= 2 and t.to_vec()[0] == "relay"
            )
        return DriverProfile(lud16, relays)


def _lud16(content: str) -> str | None:
    """A well-formed ``lud16`` from kind 0 content, or None (profiles hold anything)."""
    try:
        value = json.loads(content).get("lud16")
    except (ValueError, AttributeError):
        return None
    if not isinstance(value, str):
        return None
    value = value.strip().lower()
    return value if _LUD16.match(value) else None
