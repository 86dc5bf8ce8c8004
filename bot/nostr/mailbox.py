"""A driver's mailbox: the DMs chargers sent to one person, read back from the relays.

What a driver's nostr client does when it shows a conversation: fetch the gift wraps
(kind 1059) and legacy kind 4 events addressed to them, open each one, keep the genuine
ones. ``zapcharge demo`` uses it to show that the receipt DM really reached the relay.
"""

from __future__ import annotations

import logging

import nostr_sdk

from bot.config.keys import ChargerKeys
from bot.nostr.dm_codec import (
    KIND_GIFT_WRAP,
    KIND_NIP04,
    DmRejected,
    IncomingDm,
    open_gift_wrap,
    open_nip04,
)
from bot.nostr.pool import RelayPool

__all__ = ["Mailbox"]

log = logging.getLogger(__name__)

GIFT_WRAP_BACKDATING_S = 2 * 24 * 3600  # NIP-59: wraps are dated up to two days back


class Mailbox:
    def __init__(self, pool: RelayPool, keys: ChargerKeys) -> None:
        self.pool = pool
        self.keys = keys

    async def messages(self, since: int, *, timeout_s: float = 3.0) -> list[IncomingDm]:
        """Every genuine DM to us written at or after ``since``, oldest first, once each."""
        me = nostr_sdk.PublicKey.parse(self.keys.public_key_hex)
        wraps = nostr_sdk.Filter().kind(nostr_sdk.Kind(KIND_GIFT_WRAP)).pubkey(me)
        wraps = wraps.since(nostr_sdk.Timestamp.from_secs(since - GIFT_WRAP_BACKDATING_S))
        legacy = nostr_sdk.Filter().kind(nostr_sdk.Kind(KIND_NIP04)).pubkey(me)
        legacy = legacy.since(nostr_sdk.Timestamp.from_secs(since))
        found: dict[str, IncomingDm] = {}
        for event in await self.pool.fetch([wraps, legacy], timeout_s):
            try:
                if event.kind().as_u16() == KIND_GIFT_WRAP:
                    message = open_gift_wrap(self.keys, event)
                else:
                    message = open_nip04(self.keys, event)
            except DmRejected as exc:
                log.info("mailbox: dropped an event: %s", exc)
                continue
            if message.created_at >= since:
                found.setdefault(message.message_id, message)
        return sorted(found.values(), key=lambda m: (m.created_at, m.message_id))
