"""Nostr publishing: outbox throughput and status latency, against a LocalRelay.

1. Events signed and published per second through the outbox: ``EVENTS`` kind 1 notes from
   200 identities, each signed, verified, stored and sent until the relay's OK.
2. Status latency with ``CHARGERS`` chargers flapping for ``FLAP_S`` seconds: from writing
   ``connector_status`` and calling ``charger_changed`` to the relay's OK of the first
   status event that shows the change; with the default coalescing interval and with none.
   Each change bumps the charger's price (the injected price source), so the published
   ``price`` tag says which changes an event covers.
"""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from bot.config import ChargerConfig, Connector, RelayConfig, Tariff
from bot.config.keys import generate_keys
from bot.nostr.addresses import AddressBook
from bot.nostr.events import sign_event
from bot.nostr.outbox import Delivery, Outbox
from bot.nostr.pool import RelayPool
from bot.nostr.relay import local_relay
from bot.nostr.status import StatusPublisher
from bot.pricing.point import PricePoint
from bot.store import Database
from bot.store.nostr import NostrStateStore
from bot.store.outbox import NewOutboxEvent, OutboxStore

__all__ = ["run"]

EVENTS = 3000
CHARGERS = 200
FLAP_S = 10.0
FLAP_EVERY_S = (0.5, 2.0)


async def run() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for batch in (1, 100):
            async with local_relay() as url:
                await _throughput(Path(tmp) / f"throughput-{batch}.sqlite3", url, batch)
        for interval in (3.0, 0.0):
            async with local_relay() as url:
                await _latency(Path(tmp) / f"latency-{interval}.sqlite3", url, interval)


async def _services(db: Database, url: str) -> tuple[RelayPool, Outbox]:
    pool = RelayPool([RelayConfig(url)])
    await pool.start()
    return pool, Outbox(OutboxStore(db), pool)


async def _throughput(path: Path, url: str, batch: int) -> None:
    """``batch`` events per ``enqueue_many`` call (1: one ``enqueue`` and commit each)."""
    db = await Database.open(path)
    pool, outbox = await _services(db, url)
    keys = [generate_keys() for _ in range(CHARGERS)]
    delivered = asyncio.Event()
    count = 0

    def on_delivery(_: Delivery) -> None:
        nonlocal count
        count += 1
        if count == EVENTS:
            delivered.set()

    outbox.add_delivery_listener(on_delivery)
    now = int(time.time())
    started = time.perf_counter()
    signed = [sign_event(keys[i % CHARGERS], 1, f"note {i}", [], now) for i in range(EVENTS)]
    sign_s = time.perf_counter() - started
    runner = asyncio.create_task(outbox.run())
    started = time.perf_counter()
    for first in range(0, EVENTS, batch):
        await outbox.enqueue_many([(e, ()) for e in signed[first : first + batch]])
    enqueue_s = time.perf_counter() - started
    await asyncio.wait_for(delivered.wait(), 120)
    total_s = time.perf_counter() - started + sign_s
    runner.cancel()
    await asyncio.gather(runner, return_exceptions=True)
    await pool.close()
    await db.close()
    print(
        f"outbox, {EVENTS} events from {CHARGERS} identities, {batch} per enqueue:"
        f" signed {EVENTS / sign_s:,.0f}/s, stored {EVENTS / enqueue_s:,.0f}/s,"
        f" signed+stored+relay OK {EVENTS / total_s:,.0f}/s"
    )


@dataclass
class _Flaps:
    """Changes per charger (sequence number -> monotonic time) and measured latencies."""

    changes: dict[str, dict[int, float]] = field(default_factory=dict)
    covered: dict[str, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    events: dict[str, tuple[str, int]] = field(default_factory=dict)  # event id -> (id, seq)
    published: int = 0

    def delivered(self, delivery: Delivery) -> None:
        found = self.events.pop(delivery.event_id, None)
        if found is None:
            return
        charger_id, seq = found
        for n in range(self.covered.get(charger_id, 0) + 1, seq + 1):
            changed = self.changes[charger_id].pop(n, None)
            if changed is not None:
                self.latencies.append(delivery.at - changed)
        self.covered[charger_id] = max(seq, self.covered.get(charger_id, 0))


class _TracingOutbox(Outbox):
    """Notes which change (the price tag) each status event carries."""

    flaps: _Flaps

    async def enqueue_signed(
        self, rows: Sequence[NewOutboxEvent], *, background: bool = False
    ) -> list[int]:
        for row in rows:
            event = json.loads(row.event_json)
            if event["kind"] == 33600:
                tags = {t[0]: t[1] for t in event["tags"]}
                self.flaps.events[event["id"]] = (tags["d"], int(tags["price"]))
                self.flaps.published += 1
        return await super().enqueue_signed(rows, background=background)


def _charger(index: int) -> ChargerConfig:
    return ChargerConfig(
        id=f"cp-{index:03d}",
        name=f"Bench {index}",
        about="",
        picture="",
        lat=48.1372,
        lon=11.5756,
        address="",
        ocpp_password="bench-password",  # noqa: S106 -- never used: no charger connects
        connectors=(Connector(1, "Type2", 22000),),
        tariff=Tariff("static", 1, 0, 1000, 1000),
        key_file=Path("none"),
        keys=generate_keys(),
    )


class _SequencePrices:
    """The change number as the price: each status event says which change it shows."""

    def __init__(self, seq: dict[str, int]) -> None:
        self.seq = seq

    async def price_at(self, charger_id: str, when: datetime) -> PricePoint:
        return PricePoint(self.seq[charger_id], "static", "change number", False, None)


async def _latency(path: Path, url: str, interval: float) -> None:
    db = await Database.open(path)
    chargers = [_charger(i) for i in range(CHARGERS)]
    for charger in chargers:
        await db.execute(
            "INSERT INTO chargers (id, pubkey, online) VALUES (?, ?, 1)",
            (charger.id, charger.keys.public_key_hex),
        )
    flaps = _Flaps({c.id: {} for c in chargers})
    seq = dict.fromkeys((c.id for c in chargers), 0)
    pool = RelayPool([RelayConfig(url)])
    await pool.start()
    outbox = _TracingOutbox(OutboxStore(db), pool)
    outbox.flaps = flaps
    outbox.add_delivery_listener(flaps.delivered)
    state = NostrStateStore(db)
    status = StatusPublisher(
        chargers,
        state,
        outbox,
        AddressBook(state, time.time),
        prices=_SequencePrices(seq),
        min_interval_s=interval,
    )
    tasks = [asyncio.create_task(s.run()) for s in (outbox, status)]
    await asyncio.sleep(2.0)  # the first round of statuses goes out before flapping starts
    flaps.latencies.clear()
    published_before = flaps.published
    changes = 0

    async def flap(charger: ChargerConfig) -> None:
        nonlocal changes
        rng = random.Random(charger.id)  # noqa: S311 -- timing jitter, not secrets
        deadline = time.monotonic() + FLAP_S
        while time.monotonic() < deadline:
            await asyncio.sleep(rng.uniform(*FLAP_EVERY_S))
            seq[charger.id] += 1
            status_text = "Charging" if seq[charger.id] % 2 else "Available"
            await db.execute(
                "INSERT INTO connector_status (charger_id, connector_id, status, updated_at)"
                " VALUES (?, 1, ?, ?) ON CONFLICT(charger_id, connector_id)"
                " DO UPDATE SET status = excluded.status, updated_at = excluded.updated_at",
                (charger.id, status_text, time.time()),
            )
            flaps.changes[charger.id][seq[charger.id]] = time.monotonic()
            status.charger_changed(charger.id)
            changes += 1

    await asyncio.gather(*(flap(c) for c in chargers))
    await asyncio.sleep(interval + 3.0)  # the last trailing publishes
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await pool.close()
    await db.close()
    lat = sorted(flaps.latencies)
    p50 = statistics.median(lat) * 1000
    p99 = lat[int(len(lat) * 0.99) - 1] * 1000
    published = flaps.published - published_before
    print(
        f"status latency, {CHARGERS} chargers flapping every {FLAP_EVERY_S[0]}-{FLAP_EVERY_S[1]} s"
        f" for {FLAP_S:.0f} s, coalescing interval {interval:.0f} s: {changes} changes ->"
        f" {published} status events; change -> relay OK p50 {p50:,.0f} ms, p99 {p99:,.0f} ms,"
        f" max {lat[-1] * 1000:,.0f} ms ({len(lat)} measured)"
    )
