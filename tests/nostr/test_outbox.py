from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import nostr_sdk
import pytest

from bot.config import RelayConfig
from bot.config.keys import generate_keys
from bot.errors import NostrError
from bot.nostr.events import sign_event
from bot.nostr.outbox import Delivery, Outbox, is_final_rejection, parse_outgoing
from bot.nostr.pool import RelayAnswer, RelayPool
from bot.nostr.relay import LocalRelay, free_port
from bot.store import Database
from bot.store.outbox import OutboxStore
from tests.helpers import scaled
from tests.nostr.support import running, wait_until

KEYS = generate_keys()


def note(text: str, *, created_at: int | None = None, tags: list[list[str]] | None = None) -> str:
    return sign_event(KEYS, 1, text, tags or [], created_at or int(time.time()))


def make_pool(*urls: str) -> RelayPool:
    return RelayPool([RelayConfig(u) for u in urls], connect_wait_s=0.5)


async def count_on(relay_url: str, kind: int = 1) -> int:
    reader = make_pool(relay_url)
    try:
        return len(await reader.fetch([nostr_sdk.Filter().kind(nostr_sdk.Kind(kind))]))
    finally:
        await reader.close()


def test_outgoing_events_are_checked_and_described() -> None:
    tags = [["d", "cp-1"], ["expiration", "1700000900"]]
    event_json = sign_event(KEYS, 33600, "", tags, 1_700_000_000)
    _, row = parse_outgoing(event_json, ["ws://127.0.0.1:1", "http://bad", "ws://127.0.0.1:1"])
    assert row.address == f"33600:{KEYS.public_key_hex}:cp-1"
    assert row.expires_at == 1_700_000_900.0
    assert row.relays == ("ws://127.0.0.1:1",)
    forged = json.loads(event_json)
    forged["content"] = "changed"
    with pytest.raises(NostrError, match="bad id or signature"):
        parse_outgoing(json.dumps(forged), [])
    with pytest.raises(NostrError, match="not a nostr event"):
        parse_outgoing("{}", [])


def test_final_rejections_are_told_from_retryable_ones() -> None:
    assert is_final_rejection(RelayAnswer(False, "blocked: event is expired"))
    assert is_final_rejection(RelayAnswer(False, "invalid: bad signature"))
    assert not is_final_rejection(RelayAnswer(False, "rate-limited: slow down"))
    assert not is_final_rejection(RelayAnswer(False, "relay not connected"))
    assert not is_final_rejection(RelayAnswer(True, ""))


async def test_an_event_is_delivered_and_each_relays_answer_kept(
    tmp_path: Path, relay: LocalRelay, relay2: LocalRelay
) -> None:
    db = await Database.open(tmp_path / "z.sqlite3")
    pool = make_pool(relay.url)
    outbox = Outbox(OutboxStore(db), pool)
    deliveries: list[Delivery] = []
    outbox.add_delivery_listener(deliveries.append)
    try:
        async with running(pool, outbox):
            outbox_id = await outbox.enqueue(note("hello"), [relay2.url])
            await asyncio.wait_for(outbox.wait_delivered(outbox_id), scaled(5))
            await asyncio.wait_for(outbox.wait_delivered(outbox_id), scaled(1))  # already done
        results = await OutboxStore(db).results(outbox_id)
        assert {(r.relay_url, r.ok) for r in results} == {(relay.url, True), (relay2.url, True)}
        assert [d.outbox_id for d in deliveries] == [outbox_id]
        assert await count_on(relay2.url) == 1
    finally:
        await pool.close()
        await db.close()


async def test_delivery_after_the_relay_comes_back(tmp_path: Path) -> None:
    relay = LocalRelay()
    db = await Database.open(tmp_path / "z.sqlite3")
    pool = make_pool(relay.url)
    # A long backoff: only the relay's return (not the timer) can explain a quick delivery.
    outbox = Outbox(OutboxStore(db), pool, base_delay_s=600.0)
    try:
        async with running(pool, outbox):
            ids = [await outbox.enqueue(note(f"queued {i}")) for i in range(20)]
            store = OutboxStore(db)
            await wait_until(
                lambda: _all_tried(store, ids), what="first attempts while the relay is down"
            )
            await relay.start()
            for outbox_id in ids:
                await asyncio.wait_for(outbox.wait_delivered(outbox_id), scaled(5))
        assert await count_on(relay.url) == 20
    finally:
        relay.stop()
        await pool.close()
        await db.close()


async def _all_tried(store: OutboxStore, ids: list[int]) -> bool:
    rows = [await store.get(i) for i in ids]
    return all(r is not None and r.attempts >= 1 for r in rows)


async def test_pending_events_survive_a_restart_of_the_bot(
    tmp_path: Path, relay: LocalRelay
) -> None:
    path = tmp_path / "z.sqlite3"
    dead = f"ws://127.0.0.1:{free_port()}"
    db = await Database.open(path)
    pool = make_pool(dead)
    outbox = Outbox(OutboxStore(db), pool)
    async with running(pool, outbox):
        outbox_id = await outbox.enqueue(note("survivor"))
        await wait_until(lambda: _all_tried(OutboxStore(db), [outbox_id]), what="an attempt")
    await pool.close()
    await db.close()
    # The bot comes back with a working relay configured.
    db = await Database.open(path)
    pool = make_pool(relay.url)
    outbox = Outbox(OutboxStore(db), pool)
    try:
        async with running(pool, outbox):
            await asyncio.wait_for(outbox.wait_delivered(outbox_id), scaled(5))
        assert await count_on(relay.url) == 1
    finally:
        await pool.close()
        await db.close()


async def test_an_event_that_expired_while_waiting_is_not_sent(
    tmp_path: Path, relay: LocalRelay
) -> None:
    db = await Database.open(tmp_path / "z.sqlite3")
    pool = make_pool(relay.url)
    store = OutboxStore(db)
    outbox = Outbox(store, pool)
    try:
        async with running(pool, outbox):
            past = int(time.time()) - 10
            expired = await outbox.enqueue(note("late", tags=[["expiration", str(past)]]))
            await wait_until(lambda: _state(store, expired, "expired"), what="expired")
        assert await store.results(expired) == []
    finally:
        await pool.close()
        await db.close()


async def test_a_relay_that_refuses_for_good_fails_the_row(
    tmp_path: Path, relay: LocalRelay
) -> None:
    db = await Database.open(tmp_path / "z.sqlite3")
    pool = make_pool(relay.url)
    store = OutboxStore(db)
    # Bypass the outbox's own expiry check: the relay must be the one that refuses.
    outbox = Outbox(store, pool, clock=lambda: time.time() - 3600)
    try:
        async with running(pool, outbox):
            stale = note("stale", tags=[["expiration", str(int(time.time()) - 5)]])
            outbox_id = await outbox.enqueue(stale)
            await wait_until(lambda: _state(store, outbox_id, "failed"), what="failed")
        (result,) = await store.results(outbox_id)
        assert result.message.startswith("blocked:")
    finally:
        await pool.close()
        await db.close()


async def _state(store: OutboxStore, outbox_id: int, state: str) -> bool:
    row = await store.get(outbox_id)
    return row is not None and row.state == state


class _OrderedPool(RelayPool):
    """A pool whose relay takes every event at once; notes the order they were sent in.

    Its pacing is the real one, on a clock the test moves; ``gate`` holds sends in flight.
    """

    def __init__(self, max_events_per_s: int = 100_000) -> None:
        self.now = 0.0
        super().__init__(
            [RelayConfig("ws://127.0.0.1:9", max_events_per_s=max_events_per_s)],
            clock=lambda: self.now,
        )
        self.sent: list[str] = []
        self.gate = asyncio.Event()
        self.gate.set()

    async def send(
        self, event: object, relays: object, *, paced: bool = False
    ) -> dict[str, RelayAnswer]:
        assert isinstance(event, nostr_sdk.Event)
        self.sent.append(event.content())
        await self.gate.wait()
        return {"ws://127.0.0.1:9": RelayAnswer(True, "")}


async def test_background_events_go_out_after_every_urgent_one(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "z.sqlite3")
    pool = _OrderedPool()
    outbox = Outbox(OutboxStore(db), pool, concurrency=1)
    try:
        own = [parse_outgoing(note(f"profile {n}"), [])[1] for n in range(3)]
        await outbox.enqueue_signed(own, background=True)
        urgent = [parse_outgoing(note(f"status {n}"), [])[1] for n in range(2)]
        await outbox.enqueue_signed(urgent)
        async with running(outbox):
            await wait_until(lambda: _true(len(pool.sent) == 5), what="every event sent")
        assert pool.sent == ["status 0", "status 1", "profile 0", "profile 1", "profile 2"]
    finally:
        await db.close()


async def _true(value: bool) -> bool:
    return value


async def test_memory_holds_a_window_of_rows_and_the_table_the_rest_lane_by_lane(
    tmp_path: Path,
) -> None:
    db = await Database.open(tmp_path / "z.sqlite3")
    pool = _OrderedPool()
    store = OutboxStore(db)
    outbox = Outbox(store, pool, concurrency=4)
    now = int(time.time())
    try:
        profiles = [parse_outgoing(note(f"profile {n}"), [])[1] for n in range(6)]
        await outbox.enqueue_signed(profiles, background=True)
        statuses = [parse_outgoing(status(f"cp-{n}", f"status {n}", now), [])[1] for n in range(6)]
        await outbox.enqueue_signed(statuses)
        await outbox.enqueue(note("dm"))  # a person waits for it: taken in any case
        assert outbox._queued_count() == 5  # the window is what is tested
        async with running(outbox):
            await wait_until(lambda: _count(pool, 13), what="every event sent")
        # The window took four profiles and the DM; the table gave the rest, 33600 first.
        assert pool.sent[0] == "dm"
        assert [s for s in pool.sent if s.startswith("status")] == [f"status {n}" for n in range(6)]
        assert [s for s in pool.sent if s.startswith("profile")] == [
            f"profile {n}" for n in range(6)
        ]
        assert pool.sent.index("profile 4") > pool.sent.index("status 5")
        assert (await store.counts()) == {"delivered": 13}
    finally:
        await db.close()


def status(charger: str, text: str, created_at: int) -> str:
    return sign_event(KEYS, 33600, text, [["d", charger]], created_at)


async def _count(pool: _OrderedPool, n: int) -> bool:
    return len(pool.sent) >= n


async def test_sends_are_paced_per_relay_and_a_dm_overtakes_queued_status(
    tmp_path: Path,
) -> None:
    db = await Database.open(tmp_path / "z.sqlite3")
    pool = _OrderedPool(max_events_per_s=5)  # 5 at once, then one every 0.2 s
    outbox = Outbox(OutboxStore(db), pool)
    now = int(time.time())
    try:
        async with running(outbox):
            await outbox.enqueue_many(
                [(status(f"cp-{n}", f"status {n}", now), ()) for n in range(20)]
            )
            await wait_until(lambda: _count(pool, 5), what="the first burst")
            await asyncio.sleep(0.3)  # the clock stands still: no slot, no send
            assert len(pool.sent) == 5
            await outbox.enqueue(note("dm"))
            pool.now += 0.2  # one slot
            await wait_until(lambda: _count(pool, 6), what="the next slot")
            pool.now += 1.0  # five slots
            await wait_until(lambda: _count(pool, 11), what="a second of slots")
            await asyncio.sleep(0.3)
            assert len(pool.sent) == 11
        assert pool.sent[5] == "dm"  # ahead of the 15 status events that were waiting
        assert pool.sent[:5] + pool.sent[6:] == [f"status {n}" for n in range(10)]
    finally:
        await db.close()


async def test_a_flapping_status_sends_only_its_latest_and_never_an_older_one_after_it(
    tmp_path: Path,
) -> None:
    db = await Database.open(tmp_path / "z.sqlite3")
    pool = _OrderedPool(max_events_per_s=1)
    store = OutboxStore(db)
    outbox = Outbox(store, pool)
    now = int(time.time())
    try:
        async with running(outbox):
            pool.gate.clear()  # the first version stays in flight
            first = await outbox.enqueue(status("cp-1", "v0", now))
            await wait_until(lambda: _count(pool, 1), what="the first version in flight")
            ids = [await outbox.enqueue(status("cp-1", f"v{n}", now + n)) for n in range(1, 5)]
            pool.now += 5.0  # slots enough for all of them
            await asyncio.sleep(0.3)
            assert pool.sent == ["v0"]  # the newest waits for the one in flight
            pool.gate.set()
            await asyncio.wait_for(outbox.wait_delivered(ids[-1]), scaled(5))
            await asyncio.sleep(0.2)
        assert pool.sent == ["v0", "v4"]
        states = [(r.state if (r := await store.get(i)) else None) for i in [first, *ids]]
        assert states == ["delivered", "superseded", "superseded", "superseded", "delivered"]
    finally:
        await db.close()


async def test_a_relay_restart_loses_nothing_and_sends_a_superseded_status_never(
    tmp_path: Path, relay: LocalRelay
) -> None:
    db = await Database.open(tmp_path / "z.sqlite3")
    pool = RelayPool([RelayConfig(relay.url)], connect_wait_s=0.5, poll_interval_s=0.05)
    store = OutboxStore(db)
    # A long backoff: only the relay's return (not the timer) can explain the delivery.
    outbox = Outbox(store, pool, base_delay_s=600.0)
    reconnects: list[str] = []
    pool.add_reconnect_listener(reconnects.append)
    now = int(time.time())
    try:
        async with running(pool, outbox):
            await wait_until(lambda: _true(len(reconnects) == 1), what="connected")
            relay.stop()
            notes = [await outbox.enqueue(note(f"while down {n}")) for n in range(30)]
            versions = [await outbox.enqueue(status("cp-1", f"v{n}", now + n)) for n in range(3)]
            await wait_until(lambda: _all_tried(store, notes), what="attempts while down")
            await relay.start()
            for outbox_id in [*notes, versions[-1]]:
                await asyncio.wait_for(outbox.wait_delivered(outbox_id), scaled(10))
        assert len(reconnects) == 2
        assert await count_on(relay.url) == 30
        on_relay = await count_status(relay.url)
        assert on_relay == ["v2"]
        for older in versions[:-1]:
            row = await store.get(older)
            assert row is not None and row.state == "superseded"
            # Tried while the relay was down at most, never accepted anywhere.
            assert not await store.ok_relays(older)
    finally:
        relay.stop()
        await pool.close()
        await db.close()


async def count_status(relay_url: str) -> list[str]:
    reader = make_pool(relay_url)
    try:
        events = await reader.fetch([nostr_sdk.Filter().kind(nostr_sdk.Kind(33600))])
        return sorted(e.content() for e in events)
    finally:
        await reader.close()
