"""The relay side of ``zapcharge zap``: a profile's lightning address, and the zap receipt.

Implements :class:`bot.driver.zap.ZapRelays` on the :class:`~bot.nostr.pool.RelayPool`
(whose ``run`` must be pumping). Receipts are handed on as raw JSON: checking them is the
NIP-57 codec's job, and until one passes, a receipt is just an event someone published.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import nostr_sdk

from bot.nostr.pool import RelayPool
from bot.nostr.profiles import fetch_profile
from bot.nostr.zaps import ZAP_RECEIPT_KIND, ZapReceipt

__all__ = ["PoolZapRelays"]

log = logging.getLogger(__name__)


class PoolZapRelays:
    def __init__(self, pool: RelayPool, *, fetch_timeout_s: float = 5.0) -> None:
        self.pool = pool
        self.fetch_timeout_s = fetch_timeout_s

    async def lightning_address_of(self, pubkey: str) -> str | None:
        # The LNURL side judges the address: a profile on 127.0.0.1:<port> must work here.
        return (await fetch_profile(self.pool, pubkey, self.fetch_timeout_s)).lud16

    async def wait_for_receipt(
        self,
        recipient_pubkey: str,
        since: int,
        accept: Callable[[str], ZapReceipt | None],
        timeout_s: float,
    ) -> ZapReceipt | None:
        query = (
            nostr_sdk.Filter()
            .kind(nostr_sdk.Kind(ZAP_RECEIPT_KIND))
            .pubkey(nostr_sdk.PublicKey.parse(recipient_pubkey))
            .since(nostr_sdk.Timestamp.from_secs(since))
        )
        sub = await self.pool.subscribe([query])
        try:
            async with asyncio.timeout(timeout_s):
                while True:
                    event = await sub.next()
                    receipt = accept(str(event.as_json()))
                    if receipt is not None:
                        return receipt
        except TimeoutError:
            return None
        finally:
            await self.pool.unsubscribe(sub)
