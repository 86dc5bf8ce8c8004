from __future__ import annotations

import asyncio
from pathlib import Path

import nostr_sdk
import pytest

from bot.app import build_services
from bot.nostr.relay import LocalRelay
from bot.nostr.stack import NostrStack
from tests.helpers import scaled
from tests.nostr.support import Driver, nostr_config, open_db, running, wait_until
from tests.nostr.test_inbox import Commands

CHARGERS = 200


async def test_app_runs_the_nostr_services(tmp_path: Path, relay: LocalRelay) -> None:
    config = nostr_config(tmp_path, [relay.url])
    db = await open_db(tmp_path, config)
    try:
        names = [s.name for s in build_services(config, db)]
        nostr = [name for name in names if name.startswith("nostr-")]
        assert nostr[:4] == ["nostr-relays", "nostr-outbox", "nostr-presence", "nostr-status"]
    finally:
        await db.close()


@pytest.mark.slow
async def test_two_hundred_identities_on_one_client(tmp_path: Path, relay: LocalRelay) -> None:
    ids = tuple(f"cp-{i:03d}" for i in range(CHARGERS))
    config = nostr_config(tmp_path, [relay.url], chargers=ids)
    db = await open_db(tmp_path, config)
    await db.execute("UPDATE chargers SET online = 1")
    commands = Commands()
    stack = NostrStack.build(config, db)
    receiver = stack.dm_receiver(commands)
    try:
        async with running(*stack.services, receiver), Driver([relay.url]) as driver:
            assert receiver not in stack.services  # the stack runs without DM commands
            await asyncio.wait_for(receiver.ready.wait(), scaled(10))
            statuses = (
                nostr_sdk.Filter()
                .kind(nostr_sdk.Kind(33600))
                .custom_tags(nostr_sdk.SingleLetterTag.from_byte(ord("g")), ["u281z"])
            )
            await wait_until(lambda: _count(driver, statuses, CHARGERS), 30, "200 statuses")
            profiles = nostr_sdk.Filter().kind(nostr_sdk.Kind(0))
            await wait_until(lambda: _count(driver, profiles, CHARGERS), 30, "200 profiles")
            authors = {e["pubkey"] for e in await driver.fetch_json(statuses)}
            assert authors == {c.keys.public_key_hex for c in config.chargers}
            # One subscription with 200 #p: a DM to the last charger gets an answer.
            last = config.chargers[-1]
            await driver.publish(driver.nip17_to(last.keys.public_key_hex, "status"))
            await wait_until(lambda: _answered(driver), 10, "reply")
        assert commands.calls == [(last.id, driver.pubkey, "status")]
    finally:
        await stack.pool.close()
        await db.close()


async def _count(driver: Driver, query: nostr_sdk.Filter, n: int) -> bool:
    return len(await driver.fetch(query)) >= n


async def _answered(driver: Driver) -> bool:
    return len(await driver.inbox()) >= 1
