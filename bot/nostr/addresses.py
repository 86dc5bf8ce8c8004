"""The clock of replaceable events: ``created_at`` strictly increases per address.

Relays keep the replaceable event with the highest ``created_at`` and drop an older or
equal one, so two status changes within one second, or a restart after the wall clock
stepped back, must still produce a newer event. The last value per address is persisted
in ``nostr_addresses`` together with a fingerprint of what was published, so an unchanged
event is not re-sent after a restart.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import replace

from bot.store.nostr import AddressState, NostrStateStore

__all__ = ["AddressBook"]


class AddressBook:
    def __init__(self, store: NostrStateStore, clock: Callable[[], float]) -> None:
        self._store = store
        self._clock = clock
        self._states: dict[str, AddressState] | None = None

    async def load(self) -> None:
        if self._states is None:
            self._states = await self._store.addresses()

    def _loaded(self) -> dict[str, AddressState]:
        if self._states is None:
            raise RuntimeError("AddressBook.load() was not awaited")
        return self._states

    def get(self, address: str) -> AddressState | None:
        return self._loaded().get(address)

    def next_created_at(self, address: str) -> int:
        """Now in whole seconds, or one more than the last value at this address.

        The value is reserved at once (in memory), so two events signed before
        :meth:`published_many` saves them still differ; it is persisted by that call.
        """
        now = math.floor(self._clock())
        states = self._loaded()
        last = states.get(address)
        created_at = now if last is None or now > last.created_at else last.created_at + 1
        if last is None:
            states[address] = AddressState(created_at, "", None, 0.0)
        else:
            states[address] = replace(last, created_at=created_at)
        return created_at

    async def published_many(self, published: Sequence[tuple[str, int, str, float | None]]) -> None:
        """Remember what was just handed to the outbox: (address, created_at, fingerprint,
        expires_at) each. Call it after the outbox stored the events."""
        now = self._clock()
        states = {a: AddressState(c, f, e, now) for a, c, f, e in published}
        self._loaded().update(states)
        await self._store.save_addresses(states)
