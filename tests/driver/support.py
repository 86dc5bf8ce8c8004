"""A whole zap path for driver tests: LocalRelay, pay site, outbox and watcher, a profile."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import nostr_sdk

from bot.nostr.keys import sdk_keys
from bot.nostr.outbox import Outbox
from bot.nostr.relay import local_relay
from tests.lnurl.support import Site, pay_site, receipts_flowing

__all__ = ["ZapWorld", "zap_world"]


@dataclass
class ZapWorld:
    site: Site
    relay: str
    outbox: Outbox

    @property
    def charger_npub(self) -> str:
        return self.site.config.chargers[0].keys.npub

    @property
    def address(self) -> str:
        return f"cp-001@{self.site.domain}"

    async def publish_profile(self, lud16: str | None) -> None:
        """The charger's kind 0, as the presence publisher would put it on the relays."""
        keys = sdk_keys(self.site.config.chargers[0].keys)
        content = {"name": "Charger cp-001"} | ({"lud16": lud16} if lud16 else {})
        event = nostr_sdk.EventBuilder(nostr_sdk.Kind(0), json.dumps(content)).finalize(keys)
        await self.outbox.wait_delivered(await self.outbox.enqueue(event.as_json()))


@asynccontextmanager
async def zap_world(tmp_path: Path) -> AsyncIterator[ZapWorld]:
    async with (
        local_relay() as relay,
        pay_site(tmp_path, relay_url=relay) as site,
        receipts_flowing(site) as outbox,
    ):
        yield ZapWorld(site, relay, outbox)
