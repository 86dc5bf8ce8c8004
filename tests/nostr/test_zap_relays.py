"""The relay side of ``zapcharge zap`` on a LocalRelay: profiles' lud16, receipts."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import nostr_sdk
import pytest

from bot.nostr.relay import LocalRelay
from bot.nostr.zap_relays import PoolZapRelays
from bot.nostr.zaps import ZapReceipt
from tests.helpers import scaled
from tests.nostr.support import Driver, pool_zap_relays


@pytest.fixture
async def zap_relays(relay: LocalRelay) -> AsyncIterator[PoolZapRelays]:
    async with pool_zap_relays(relay.url) as running:
        yield running


async def profile(driver: Driver, content: str, created_at: int) -> None:
    event = (
        nostr_sdk.EventBuilder(nostr_sdk.Kind(0), content)
        .custom_created_at(nostr_sdk.Timestamp.from_secs(created_at))
        .finalize(driver.keys)
    )
    await driver.publish(event)


async def test_the_newest_profile_gives_the_lightning_address(
    relay: LocalRelay, zap_relays: PoolZapRelays
) -> None:
    async with Driver([relay.url]) as someone:
        assert await zap_relays.lightning_address_of(someone.pubkey) is None
        await profile(someone, json.dumps({"lud16": "old@example.org"}), 1_700_000_000)
        await profile(someone, json.dumps({"lud16": " Alice@Example.org "}), 1_700_000_100)
        assert await zap_relays.lightning_address_of(someone.pubkey) == "alice@example.org"
        await profile(someone, "not json", 1_700_000_200)
        assert await zap_relays.lightning_address_of(someone.pubkey) is None


async def test_receipts_are_offered_until_one_is_accepted(
    relay: LocalRelay, zap_relays: PoolZapRelays
) -> None:
    seen: list[str] = []

    def accept(raw: str) -> ZapReceipt | None:
        seen.append(json.loads(raw)["content"])
        return None  # nothing here is a valid receipt

    async with Driver([relay.url]) as zapper:
        recipient = nostr_sdk.Keys.generate().public_key().to_hex()
        for text in ("one", "two"):
            await zapper.publish_signed(9735, text, [["p", recipient]])
        await zapper.publish_signed(9735, "other", [["p", zapper.pubkey]])
        found = await zap_relays.wait_for_receipt(recipient, 0, accept, scaled(1))
    assert found is None
    assert sorted(seen) == ["one", "two"]
