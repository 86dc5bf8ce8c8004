"""Zap receipts addressed to some of our chargers, live from the read relays.

:class:`RelayReceiptFeed` fills :class:`bot.ports.ZapReceiptFeed` for ``bot.receipts``,
which checks each receipt but never talks to a relay itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import nostr_sdk

from bot.nostr.pool import RelayPool, Subscription
from bot.nostr.zaps import ZAP_RECEIPT_KIND

__all__ = ["RelayReceiptFeed", "zap_receipt_filter"]


def zap_receipt_filter(pubkeys: Sequence[str], since: int) -> Any:
    """Kind 9735 with ``#p`` = ``pubkeys`` (hex), created at ``since`` or later."""
    return (
        nostr_sdk.Filter()
        .kind(nostr_sdk.Kind(ZAP_RECEIPT_KIND))
        .pubkeys([nostr_sdk.PublicKey.parse(pk) for pk in pubkeys])
        .since(nostr_sdk.Timestamp.from_secs(max(0, since)))
    )


class RelayReceiptFeed:
    """One long-lived REQ per listener on the pool's read relays."""

    def __init__(self, pool: RelayPool) -> None:
        self._pool = pool

    @asynccontextmanager
    async def zap_receipts(
        self, pubkeys: Sequence[str], since: int
    ) -> AsyncIterator[AsyncIterator[str]]:
        sub = await self._pool.subscribe([zap_receipt_filter(pubkeys, since)])
        try:
            yield _events(sub)
        finally:
            await self._pool.unsubscribe(sub)


async def _events(sub: Subscription) -> AsyncIterator[str]:
    while True:
        event = await sub.next()
        yield str(event.as_json())
