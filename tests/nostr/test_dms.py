from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import nostr_sdk
import pytest

from bot.errors import NostrError
from bot.nostr.dms import DirectMessenger
from bot.nostr.outbox import Outbox
from bot.nostr.pool import RelayPool
from bot.nostr.relay import LocalRelay
from bot.store import Database
from bot.store.outbox import OutboxStore
from tests.nostr.support import Driver, nostr_config, open_db, running, wait_until


@dataclass
class Bot:
    db: Database
    pool: RelayPool
    outbox: Outbox
    messenger: DirectMessenger
    pubkey: str


@pytest.fixture(params=[False, True], ids=["nip17-only", "nip04-fallback"])
async def bot(
    tmp_path: Path, relay: LocalRelay, request: pytest.FixtureRequest
) -> AsyncIterator[Bot]:
    config = nostr_config(tmp_path, [relay.url], nip04_fallback=request.param)
    db = await open_db(tmp_path, config)
    pool = RelayPool.from_config(config)
    outbox = Outbox(OutboxStore(db), pool)
    keys = {c.id: c.keys for c in config.chargers}
    messenger = DirectMessenger(keys, pool, outbox, nip04_fallback=config.dm.nip04_fallback)
    try:
        async with running(pool, outbox):
            yield Bot(db, pool, outbox, messenger, config.chargers[0].keys.public_key_hex)
    finally:
        await pool.close()
        await db.close()


async def test_a_dm_goes_to_the_drivers_inbox_relays(
    bot: Bot, relay: LocalRelay, relay2: LocalRelay
) -> None:
    async with Driver([relay.url]) as driver:
        await driver.publish_signed(10050, "", [["relay", relay2.url]])
        await bot.messenger.send_dm("cp-001", driver.pubkey, "⚡ Charging started")
        async with Driver([relay2.url]) as inbox_reader:
            inbox_reader.keys = driver.keys
            await wait_until(lambda: _has_mail(inbox_reader), what="DM in the inbox relay")
            # The driver reads NIP-17, so no NIP-04 copy even with the fallback on.
            assert await inbox_reader.inbox() == [("nip17", bot.pubkey, "⚡ Charging started")]


async def test_without_an_inbox_list_the_zap_request_relays_are_used(
    bot: Bot, relay: LocalRelay, relay2: LocalRelay
) -> None:
    nip04 = bot.messenger._nip04
    async with Driver([relay2.url]) as driver:
        await bot.messenger.send_dm("cp-001", driver.pubkey, "refund sent", [relay2.url])
        expected = [("nip17", bot.pubkey, "refund sent")]
        if nip04:
            expected.insert(0, ("nip04", bot.pubkey, "refund sent"))
        await wait_until(lambda: _mail_count(driver, len(expected)), what="DMs")
        assert await driver.inbox() == expected


async def _has_mail(driver: Driver) -> bool:
    return bool(await driver.inbox())


async def _mail_count(driver: Driver, n: int) -> bool:
    return len(await driver.inbox()) == n


async def test_lightning_address_comes_from_the_drivers_profile(
    bot: Bot, relay: LocalRelay
) -> None:
    async with Driver([relay.url]) as driver, Driver([relay.url]) as stranger:
        await driver.publish_signed(0, '{"name":"D","lud16":"Driver@Wallet.Example"}', [])
        await stranger.publish_signed(0, '{"name":"S","lud16":"not an address"}', [])
        assert await bot.messenger.lightning_address_of(driver.pubkey) == "driver@wallet.example"
        assert await bot.messenger.lightning_address_of(stranger.pubkey) is None
        assert await bot.messenger.lightning_address_of("npub-nonsense") is None
        # Cached briefly: a change is not seen at once.
        newer = nostr_sdk.EventBuilder(nostr_sdk.Kind(0), '{"lud16":"new@wallet.example"}')
        later = nostr_sdk.Timestamp.from_secs(int(time.time()) + 5)
        await driver.publish(newer.custom_created_at(later).finalize(driver.keys))
        assert await bot.messenger.lightning_address_of(driver.pubkey) == "driver@wallet.example"


async def test_unknown_charger_or_recipient_is_an_error(bot: Bot) -> None:
    with pytest.raises(NostrError, match="no charger"):
        await bot.messenger.send_dm("cp-999", "00" * 32, "x")
    with pytest.raises(NostrError, match="not a public key"):
        await bot.messenger.send_dm("cp-001", "bob", "x")
