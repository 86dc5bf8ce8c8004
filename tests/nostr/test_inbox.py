from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import nostr_sdk
import pytest

from bot.config import Config, RelayConfig
from bot.config.keys import generate_keys
from bot.nostr.dms import DirectMessenger
from bot.nostr.inbox import DmReceiver
from bot.nostr.keys import sdk_keys
from bot.nostr.outbox import Outbox
from bot.nostr.pool import RelayPool
from bot.nostr.relay import LocalRelay
from bot.store import Database
from bot.store.nostr import NostrStateStore
from bot.store.outbox import OutboxStore
from tests.helpers import scaled
from tests.nostr.support import (
    Driver,
    nostr_config,
    open_db,
    rumor_json,
    running,
    wait_until,
    wrap_by_hand,
)


class Commands:
    """Stands in for the session layer (not part of this package): records and answers."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str]] = []

    async def driver_command(self, charger_id: str, sender_pubkey: str, command: str) -> str:
        self.calls.append((charger_id, sender_pubkey, command))
        return f"{command}: ok"


@dataclass
class Bot:
    config: Config
    db: Database
    commands: Commands

    @property
    def charger(self) -> str:
        return self.config.chargers[0].keys.public_key_hex

    @asynccontextmanager
    async def started(self, **options: int) -> AsyncIterator[DmReceiver]:
        pool = RelayPool.from_config(self.config)
        outbox = Outbox(OutboxStore(self.db), pool)
        keys = {c.id: c.keys for c in self.config.chargers}
        messenger = DirectMessenger(
            keys, pool, outbox, nip04_fallback=self.config.dm.nip04_fallback
        )
        state = NostrStateStore(self.db)
        receiver = DmReceiver(
            self.config.chargers, pool, messenger, self.commands, state, **options
        )
        try:
            async with running(pool, outbox, receiver):
                await asyncio.wait_for(receiver.ready.wait(), scaled(5))
                yield receiver
        finally:
            await pool.close()


@pytest.fixture(params=[False, True], ids=["nip17-only", "nip04-fallback"])
async def bot(
    tmp_path: Path, relay: LocalRelay, relay2: LocalRelay, request: pytest.FixtureRequest
) -> AsyncIterator[Bot]:
    config = nostr_config(tmp_path, [relay.url, relay2.url], nip04_fallback=request.param)
    db = await open_db(tmp_path, config)
    try:
        yield Bot(config, db, Commands())
    finally:
        await db.close()


async def test_nip17_command_and_reply(bot: Bot, relay: LocalRelay) -> None:
    async with bot.started(), Driver([relay.url]) as driver:
        await driver.publish(driver.nip17_to(bot.charger, "Status?"))
        await wait_until(lambda: _mail(driver, 1), what="reply")
        assert bot.commands.calls == [("cp-001", driver.pubkey, "status")]
        assert await driver.inbox() == [("nip17", bot.charger, "status: ok")]


async def test_nip04_command_and_reply(bot: Bot, relay: LocalRelay) -> None:
    fallback = bot.config.dm.nip04_fallback
    async with bot.started(), Driver([relay.url]) as driver:
        await driver.publish(driver.nip04_to(bot.charger, "stop"))
        expected = [("nip17", bot.charger, "stop: ok")]
        if fallback:  # answered the way it was asked, when allowed
            expected.insert(0, ("nip04", bot.charger, "stop: ok"))
        count = len(expected)
        await wait_until(lambda: _mail(driver, count), what="replies")
        assert bot.commands.calls == [("cp-001", driver.pubkey, "stop")]
        assert await driver.inbox() == expected


async def test_forged_undecryptable_and_stale_dms_are_dropped(
    bot: Bot, relay: LocalRelay, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.nostr.inbox")
    charger_keys = bot.config.chargers[0].keys
    async with bot.started(), Driver([relay.url]) as driver, Driver([relay.url]) as mallory:
        victim = driver.pubkey
        forged = rumor_json(victim, "stop", bot.charger)
        await mallory.publish(wrap_by_hand(mallory.keys, forged, charger_keys))
        junk = nostr_sdk.EventBuilder(nostr_sdk.Kind(1059), "garbage").tags(
            [nostr_sdk.Tag.parse(["p", bot.charger])]
        )
        await mallory.publish(junk.finalize(mallory.keys))
        await mallory.publish_signed(4, "no?iv=", [["p", bot.charger]])
        old = rumor_json(victim, "stop", bot.charger, created_at=int(time.time()) - 7200)
        await driver.publish(wrap_by_hand(driver.keys, old, charger_keys))
        await wait_until(lambda: _dropped(caplog, 4), what="four dropped DMs")
        # The subscription is still alive: a genuine command still works.
        await driver.publish(driver.nip17_to(bot.charger, "help"))
        await wait_until(lambda: _calls(bot, 1), what="genuine command")
    assert bot.commands.calls == [("cp-001", victim, "help")]
    reasons = " ".join(r.getMessage() for r in caplog.records)
    for reason in ("forged", "undecryptable", "s old"):
        assert reason in reasons


async def test_each_dm_is_handled_once_across_relays_and_restarts(
    bot: Bot, relay: LocalRelay, relay2: LocalRelay
) -> None:
    async with Driver([relay.url, relay2.url]) as driver:
        wrap = driver.nip17_to(bot.charger, "status")
        async with bot.started():
            await driver.publish(wrap)  # reaches the bot on both relays
            await wait_until(lambda: _calls(bot, 1), what="command")
            # The same rumor in a second gift wrap is the same message.
            rumor = nostr_sdk.UnwrappedGift.from_gift_wrap(
                sdk_keys(bot.config.chargers[0].keys), wrap
            ).rumor()
            rewrapped = nostr_sdk.nip59_make_gift_wrap(
                driver.keys, nostr_sdk.PublicKey.parse(bot.charger), rumor
            )
            await driver.publish(rewrapped)
            await asyncio.sleep(0.3)
        # A restart reads the last two days again, and handles nothing twice.
        async with bot.started() as receiver:
            assert receiver.ready.is_set()
            await asyncio.sleep(0.3)
    assert len(bot.commands.calls) == 1


async def _mail(driver: Driver, n: int) -> bool:
    return len(await driver.inbox()) >= n


async def _calls(bot: Bot, n: int) -> bool:
    return len(bot.commands.calls) >= n


async def _dropped(caplog: pytest.LogCaptureFixture, n: int) -> bool:
    return sum("dropped DM" in r.getMessage() for r in caplog.records) >= n


async def test_own_chargers_and_chatty_senders_get_no_answer(
    tmp_path: Path, relay: LocalRelay, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.nostr.inbox")
    config = nostr_config(tmp_path, [relay.url], chargers=("cp-a", "cp-b"))
    db = await open_db(tmp_path, config)
    bot = Bot(config, db, Commands())
    a, b = config.chargers
    try:
        async with bot.started(max_commands_per_hour=2), Driver([relay.url]) as driver:
            from_b = Driver([relay.url])
            from_b.keys = sdk_keys(b.keys)
            async with from_b:
                await from_b.publish(from_b.nip17_to(a.keys.public_key_hex, "help"))
            for text in ("status", "status?", "status!"):  # equal rumors would be one message
                await driver.publish(driver.nip17_to(a.keys.public_key_hex, text))
            await wait_until(lambda: _dropped(caplog, 2), what="two dropped DMs")
        assert bot.commands.calls == [("cp-a", driver.pubkey, "status")] * 2
        reasons = " ".join(r.getMessage() for r in caplog.records)
        assert "our own chargers" in reasons and "2 commands within the hour" in reasons
    finally:
        await db.close()


async def test_the_dm_subscription_of_ten_thousand_chargers_fits_a_relays_limits(
    relay: LocalRelay, caplog: pytest.LogCaptureFixture
) -> None:
    # LocalRelay caps a connection's subscriptions at 1 MiB; with one filter per kind the
    # #p lists of 10,000 chargers were 1.3 MB, refused, and the connection dropped.
    chargers = [
        SimpleNamespace(keys=SimpleNamespace(public_key_hex=generate_keys().public_key_hex))
        for _ in range(10_000)
    ]
    receiver = DmReceiver(chargers, None, None, None, None)  # type: ignore[arg-type]
    pool = RelayPool([RelayConfig(relay.url)])
    caplog.set_level(logging.WARNING, logger="bot.nostr.pool")
    try:
        async with running(pool):
            sub = await pool.subscribe(receiver.filters(time.time()), eose_timeout_s=scaled(10))
            assert sub.eose.is_set()
            await asyncio.sleep(1.0)  # a refusal comes as a NOTICE right after the REQ
    finally:
        await pool.close()
    assert not [r for r in caplog.records if "rate-limited" in r.getMessage()]
