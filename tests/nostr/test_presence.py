from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import nostr_sdk

from bot.config import Config
from bot.nostr.addresses import AddressBook
from bot.nostr.events import geohash_ladder
from bot.nostr.outbox import Outbox
from bot.nostr.pool import RelayPool
from bot.nostr.presence import PresencePublisher, RelayHoldings
from bot.nostr.relay import LocalRelay
from bot.store.nostr import NostrStateStore
from bot.store.outbox import OutboxStore
from tests.nostr.support import Driver, nostr_config, open_db, running, wait_until


async def test_profile_relay_lists_and_location_are_published_once(
    tmp_path: Path, relay: LocalRelay
) -> None:
    config = nostr_config(tmp_path, [relay.url])
    charger = config.chargers[0]
    db = await open_db(tmp_path, config)
    pool = RelayPool.from_config(config)
    outbox = Outbox(OutboxStore(db), pool)
    state = NostrStateStore(db)
    try:
        presence = publisher(config, outbox, state, 1_700_000_000)
        async with running(pool, outbox):
            assert await presence.publish() == 4
            async with Driver([relay.url]) as driver:
                query = nostr_sdk.Filter().author(
                    nostr_sdk.PublicKey.parse(charger.keys.public_key_hex)
                )
                await wait_until(lambda: _count(driver, query, 4), what="four events")
                events = {e["kind"]: e for e in await driver.fetch_json(query)}
            # A restart with nothing changed sends nothing; a new name sends kind 0 and 33000.
            again = publisher(config, outbox, state, 1_700_000_100)
            assert await again.publish() == 0
            renamed = replace(config, chargers=(replace(charger, name="Renamed"),))
            third = publisher(renamed, outbox, state, 1_700_000_200)
            assert await third.publish() == 2
    finally:
        await pool.close()
        await db.close()

    assert set(events) == {0, 10002, 10050, 33000}
    assert all(e["created_at"] == 1_700_000_000 for e in events.values())
    profile = json.loads(events[0]["content"])
    assert profile["lud16"] == "cp-001@charge.example.org" == profile["nip05"]
    assert events[10002]["tags"] == [["r", relay.url]]
    assert events[10050]["tags"] == [["relay", relay.url]]
    location = events[33000]
    assert location["tags"][:2] == [["d", "cp-001"], ["name", "Charger cp-001"]]
    assert [t[1] for t in location["tags"] if t[0] == "g"] == geohash_ladder(48.1372, 11.5756)
    assert ["meta", "price-msat-per-kwh", "250000"] in location["tags"]


def publisher(
    config: Config,
    outbox: Outbox,
    state: NostrStateStore,
    now: int,
    holdings: RelayHoldings | None = None,
) -> PresencePublisher:
    book = AddressBook(state, lambda: now)
    return PresencePublisher(config, outbox, book, clock=lambda: now, holdings=holdings)


async def _count(driver: Driver, query: nostr_sdk.Filter, n: int) -> bool:
    return len(await driver.fetch(query)) == n


async def test_what_a_relay_lacks_is_published_again(tmp_path: Path, relay: LocalRelay) -> None:
    config = nostr_config(tmp_path, [relay.url])
    db = await open_db(tmp_path, config)
    pool = RelayPool.from_config(config)
    outbox = Outbox(OutboxStore(db), pool)
    state = NostrStateStore(db)
    pubkey = config.chargers[0].keys.public_key_hex
    query = nostr_sdk.Filter().author(nostr_sdk.PublicKey.parse(pubkey))
    try:
        async with running(pool, outbox):
            async with Driver([relay.url]) as driver:
                first = publisher(config, outbox, state, 1_700_000_000, holdings=pool)
                assert await first.publish() == 4
                await wait_until(lambda: _count(driver, query, 4), what="four events")
                # Everything is on the relay: the check finds nothing to send.
                assert await first.republish_missing() == 0
            # The relay loses its data; a restart with nothing changed publishes nothing,
            # but the check finds the relay lacking all four and sends them again.
            relay.stop()
            await relay.start()
            again = publisher(config, outbox, state, 1_700_000_100, holdings=pool)
            assert await again.publish() == 0
            await wait_until(lambda: _connected(pool, relay.url), what="pool back on the relay")
            assert await again.republish_missing() == 4
            async with Driver([relay.url]) as driver:  # a reader on the new relay
                await wait_until(lambda: _count(driver, query, 4), seconds=15, what="four again")
                events = await driver.fetch_json(query)
    finally:
        await pool.close()
        await db.close()
    assert {e["created_at"] for e in events} == {1_700_000_100}


async def _connected(pool: RelayPool, url: str) -> bool:
    return await pool.held_by(url, [0], ["00" * 32]) is not None


async def test_an_operators_refresh_republishes_one_charger_unchanged(
    tmp_path: Path, relay: LocalRelay
) -> None:
    config = nostr_config(tmp_path, [relay.url], chargers=("cp-001", "cp-002"))
    db = await open_db(tmp_path, config)
    pool = RelayPool.from_config(config)
    outbox = Outbox(OutboxStore(db), pool)
    state = NostrStateStore(db)
    try:
        presence = publisher(config, outbox, state, 1_700_000_000)
        assert await presence.publish() == 8
        assert await presence.publish() == 0  # nothing changed
        assert await presence.publish(force="cp-002") == 4  # the console's "refresh"
        assert await presence.publish(force="cp-404") == 0
        # After a reload that drops cp-001, only cp-002's events are standing.
        presence.set_chargers([c for c in config.chargers if c.id == "cp-002"])
        assert await presence.publish(force="cp-001") == 0
    finally:
        await pool.close()
        await db.close()
