"""The persistent publish outbox: stored first, then sent until a relay answers OK.

``enqueue`` verifies and stores the signed event and returns its row id; :meth:`Outbox.run`
sends due rows to our write relays plus the relays named for that event, at most
``concurrency`` at a time, keeps every relay's answer, and retries with exponential
backoff and jitter. Rows survive restarts (they are simply due again) and a relay that
connects again makes every pending row due at once, so an outage of an hour costs one
round of sends when it ends, not an hour of backoff. See ``bot.store.outbox`` for states.

Rows wait in three lanes, and a send leaves only when every relay it goes to has a send
slot (:meth:`RelayPool.reserve`, per-relay pacing): first everything a person waits for
(DMs, zap receipts, refund notices, wallet answers), then machine status (kind 33600),
then the rest (NIP-38 status, profiles, relay lists, locations). A DM therefore overtakes
thousands of queued status events. Replaceable events coalesce: a row whose address got a
newer row is superseded (the store marks it, the lanes skip it), and a newer row waits
while an older one of its address is in flight, so it is never overtaken by it.

Memory holds a window of at most ``concurrency`` rows waiting (more only of the first
lane); the rest wait in the table, which is claimed lane by lane, oldest first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import nostr_sdk

from bot.errors import NostrError
from bot.nostr.events import address_of
from bot.nostr.pool import RelayAnswer, RelayPool, normalize_relay_url
from bot.store.outbox import Attempt, NewOutboxEvent, OutboxRow, OutboxStore, RelayResult

__all__ = ["Delivery", "Outbox", "is_final_rejection", "own_event", "parse_outgoing"]

log = logging.getLogger(__name__)

MAX_EXTRA_RELAYS = 20  # a zap request may list many relays; the first ones are enough
URGENT, STATUS, BACKGROUND = 0, 1, 2  # lanes, first served first
_LANES = (URGENT, STATUS, BACKGROUND)
_LANE_OF_KIND = {
    33600: STATUS,  # machine status: what apps and the bench watch
    30315: BACKGROUND,  # NIP-38 status for people: the same news, after the 33600
    0: BACKGROUND,
    10002: BACKGROUND,
    10050: BACKGROUND,
    33000: BACKGROUND,
}
# NIP-01 OK prefixes after which sending the same event again cannot succeed.
_FINAL_PREFIXES = ("invalid:", "blocked:", "pow:", "restricted:", "mute:")


@dataclass(frozen=True)
class Delivery:
    """A relay answered OK; ``at`` is ``time.monotonic()`` right after the answer."""

    outbox_id: int
    event_id: str
    kind: int
    address: str | None
    at: float


def is_final_rejection(answer: RelayAnswer) -> bool:
    return not answer.ok and answer.message.startswith(_FINAL_PREFIXES)


def parse_outgoing(event_json: str, relays: Sequence[str]) -> tuple[Any, NewOutboxEvent]:
    """Check a signed event and describe it for the outbox table. Raises NostrError."""
    try:
        event = nostr_sdk.Event.from_json(event_json)
    except Exception as exc:  # NostrSdkError: not an event at all
        raise NostrError(f"not a nostr event: {exc}") from exc
    if not event.verify():
        raise NostrError("refusing to publish an event with a bad id or signature")
    tags = [t.to_vec() for t in event.tags()]
    row = _row_of(
        event.id().to_hex(),
        event_json,
        event.kind().as_u16(),
        event.author().to_hex(),
        tags,
        relays=_clean_relays(relays),
    )
    return event, row


def own_event(
    event_id: str, event_json: str, kind: int, pubkey: str, tags: Sequence[Sequence[str]]
) -> NewOutboxEvent:
    """The outbox row of an event we signed ourselves, described from what we signed."""
    return _row_of(event_id, event_json, kind, pubkey, tags, relays=())


def _row_of(
    event_id: str,
    event_json: str,
    kind: int,
    pubkey: str,
    tags: Sequence[Sequence[str]],
    *,
    relays: tuple[str, ...],
) -> NewOutboxEvent:
    """The outbox row of a signed event: its address, NIP-40 expiry and lane."""
    expiration = next((t[1] for t in tags if len(t) >= 2 and t[0] == "expiration"), None)
    return NewOutboxEvent(
        event_id=event_id,
        kind=kind,
        pubkey=pubkey,
        event_json=event_json,
        relays=relays,
        address=address_of(kind, pubkey, tags),
        expires_at=float(expiration) if expiration and expiration.isdigit() else None,
        lane=_LANE_OF_KIND.get(kind, URGENT),
    )


def _clean_relays(relays: Sequence[str]) -> tuple[str, ...]:
    clean: list[str] = []
    for url in relays:
        try:
            normal = normalize_relay_url(url)
        except NostrError:
            log.info("ignoring relay %r: not a relay URL", url[:80])
            continue
        if normal not in clean:
            clean.append(normal)
    return tuple(clean[:MAX_EXTRA_RELAYS])


class Outbox:
    name = "nostr-outbox"

    def __init__(
        self,
        store: OutboxStore,
        pool: RelayPool,
        *,
        clock: Callable[[], float] = time.time,
        rng: Callable[[], float] = random.random,
        concurrency: int = 256,
        base_delay_s: float = 2.0,
        max_delay_s: float = 300.0,
        lease_s: float = 60.0,
        give_up_after_s: float = 7 * 86400.0,
        keep_s: float = 14 * 86400.0,
    ) -> None:
        self._store = store
        self._pool = pool
        self._clock = clock
        self._rng = rng
        self._concurrency = concurrency  # notes.md: thousands in flight fail falsely
        self._claim_batch = max(1, concurrency // 4)
        self._base_delay_s = base_delay_s
        self._max_delay_s = max_delay_s
        self._lease_s = lease_s
        self._give_up_after_s = give_up_after_s
        self._keep_s = keep_s  # finished rows (and their relay answers) are kept this long
        self._next_prune = 0.0
        self._wake = asyncio.Event()
        self._retry_all = True  # after a restart every pending row gets a fresh attempt
        self._in_flight: set[int] = set()
        # Rows to send, not yet handed to a send task, by lane (see the module docstring);
        # their ids in _queued, so that a row claimed again after its lease is not doubled.
        self._lanes: tuple[deque[OutboxRow], ...] = tuple(deque() for _ in _LANES)
        self._queued: set[int] = set()
        self._latest: dict[str, int] = {}  # replaceable address -> its newest row id
        self._busy: dict[str, int] = {}  # address -> the row of it in flight
        self._parked: dict[str, tuple[int, OutboxRow]] = {}  # address -> (lane, next row)
        self._pace_until = 0.0  # time.monotonic() when a relay has a send slot again
        self._db_due_at = -math.inf  # when a row in the table (not in memory) is due next
        self._finished: list[Attempt] = []
        self._finished_since = 0.0
        self._flush_interval_s = 0.02
        self._listeners: list[Callable[[Delivery], None]] = []
        self._waiters: dict[int, list[asyncio.Future[None]]] = {}
        pool.add_reconnect_listener(self._relay_connected)

    def add_delivery_listener(self, listener: Callable[[Delivery], None]) -> None:
        self._listeners.append(listener)

    async def enqueue(self, event_json: str, relays: Sequence[str] = ()) -> int:
        """Store a signed event for publishing to our write relays plus ``relays``."""
        return (await self.enqueue_many([(event_json, relays)]))[0]

    async def enqueue_many(self, items: Sequence[tuple[str, Sequence[str]]]) -> list[int]:
        """Like :meth:`enqueue` for several events, stored in one transaction."""
        return await self.enqueue_signed(
            [parse_outgoing(event_json, relays)[1] for event_json, relays in items]
        )

    async def enqueue_signed(
        self, rows: Sequence[NewOutboxEvent], *, background: bool = False
    ) -> list[int]:
        """Store events this process has just signed (see :func:`own_event`).

        They are not parsed and verified again: a verify costs as much as the signature
        (notes.md), and the status of 10,000 chargers is 20,000 events. ``background``
        rows are sent after every urgent one: the first start of 10,000 chargers queues
        40,000 profile, relay list and location events, and their status must not wait.
        """
        now = self._clock()
        if background:
            rows = [replace(row, lane=BACKGROUND) for row in rows]
        # Hand the new rows to the sender directly, as far as the window has room: they
        # are stored already leased, so the table is not scanned for them. The rest wait
        # in the table, due now, and are claimed lane by lane as the window empties: the
        # first start of 10,000 chargers queues 60,000 events, which held in memory cost
        # ~60 MB that the process keeps (the allocator does not give it back). What a
        # person waits for is always taken at once. After a crash all are due at the start.
        room = self._claim_room()
        held: list[bool] = []
        for row in rows:
            held.append(row.lane == URGENT or room > 0)
            room -= held[-1]
        stored = await self._store.add(rows, now, self._lease_s, leased=held)
        for (outbox_id, new), row, taken in zip(stored, rows, held, strict=True):
            if new and taken:
                self._queue(_fresh_row(outbox_id, row, now), row.lane)
        if not all(held):
            self._db_due_at = -math.inf
        self._wake.set()
        return [outbox_id for outbox_id, _ in stored]

    async def pending_addresses(self, kinds: Sequence[int]) -> set[str]:
        """Replaceable addresses of these kinds with an event still waiting to go out."""
        return await self._store.pending_addresses(kinds)

    async def wait_delivered(self, outbox_id: int) -> None:
        """Return once the row is stored as delivered (wrap in a timeout)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(outbox_id, []).append(future)
        try:
            row = await self._store.get(outbox_id)
            if row is not None and row.state == "delivered":
                return
            await future
        finally:
            waiting = self._waiters.get(outbox_id, [])
            if future in waiting:
                waiting.remove(future)
            if not waiting:
                self._waiters.pop(outbox_id, None)

    def _relay_connected(self, url: str) -> None:
        del url
        self._retry_all = True
        self._wake.set()

    def _queue(self, row: OutboxRow, lane: int) -> None:
        """Put a row in its lane; an older row of the same address is superseded by it."""
        if row.id in self._queued or row.id in self._in_flight:
            return
        if row.address is not None:
            if self._latest.get(row.address, row.id) > row.id:
                return  # a newer one is known: the store marked this one superseded
            self._latest[row.address] = row.id
        self._queued.add(row.id)
        self._lanes[lane].append(row)

    def _next_row(self) -> tuple[int, OutboxRow] | None:
        """The first row of the first non-empty lane that may go now."""
        for lane, queue in enumerate(self._lanes):
            while queue:
                row = queue.popleft()
                self._queued.discard(row.id)
                address = row.address
                if address is None:
                    return lane, row
                if self._latest.get(address, row.id) > row.id:
                    continue  # superseded while it waited
                if address in self._busy:
                    self._parked[address] = (lane, row)  # after the one in flight
                    continue
                return lane, row
        return None

    def _queued_count(self) -> int:
        return len(self._queued)

    async def run(self) -> None:
        try:
            async with asyncio.TaskGroup() as group:
                while True:
                    if self._flush_due():
                        await self._flush()
                    if self._retry_all:
                        self._retry_all = False
                        await self._store.retry_now(self._clock())
                        self._db_due_at = -math.inf
                    if self._claim_wanted():
                        await self._claim()
                    self._dispatch(group)
                    if self._clock() >= self._next_prune:
                        await self._prune()
                    await self._sleep()
        finally:
            await self._flush()

    async def _prune(self) -> None:
        now = self._clock()
        self._next_prune = now + 3600.0
        pruned = await self._store.prune(now - self._keep_s)
        if pruned:
            log.info("outbox: forgot %d finished row(s)", pruned)

    def _claim_room(self) -> int:
        return self._concurrency - len(self._in_flight) - self._queued_count()

    def _claim_wanted(self) -> bool:
        """Rows in the table are due and the window has room for a batch of them (not
        one row per finished send: a claim is a write transaction)."""
        return self._db_due_at <= self._clock() and self._claim_room() >= self._claim_batch

    def _dispatch(self, group: asyncio.TaskGroup) -> None:
        """Start sends, lane by lane, while relays have send slots and tasks are free."""
        while len(self._in_flight) < self._concurrency:
            if time.monotonic() < self._pace_until:
                return
            taken = self._next_row()
            if taken is None:
                return
            lane, row = taken
            targets = list(dict.fromkeys([*self._pool.write_relays, *row.relays]))
            wait = self._pool.reserve(targets) if targets else 0.0
            if wait > 0.0:  # back to the head of its lane until the relays have a slot
                self._lanes[lane].appendleft(row)
                self._queued.add(row.id)
                self._pace_until = time.monotonic() + wait
                return
            self._in_flight.add(row.id)
            if row.address is not None:
                self._busy[row.address] = row.id
            group.create_task(self._attempt(row, targets))

    async def _claim(self) -> None:
        """Take due rows from the table: retries, leftovers, rows from before a start, and
        rows the window had no room for when they were stored."""
        free = self._claim_room()
        rows = await self._store.claim_due(self._clock(), free, self._lease_s, _LANES)
        for row in rows:
            self._queue(row, row.lane)
        if len(rows) >= free:
            self._db_due_at = -math.inf
        else:
            due = await self._store.next_due_at()
            self._db_due_at = math.inf if due is None else due

    def _flush_due(self) -> bool:
        """Record finished attempts in batches: one commit per ~20 ms, not one per event.

        Losing unrecorded results in a crash only means those events are sent again,
        which relays answer with a duplicate OK.
        """
        if not self._finished:
            return False
        waited = time.monotonic() - self._finished_since
        return len(self._finished) >= self._concurrency or waited >= self._flush_interval_s

    async def _sleep(self) -> None:
        mono = time.monotonic()
        timeout = 30.0
        if self._queued_count() and len(self._in_flight) < self._concurrency:
            timeout = min(timeout, self._pace_until - mono)  # <= 0: sendable now
        if self._claim_room() >= self._claim_batch:
            timeout = min(timeout, self._db_due_at - self._clock())
        if self._finished:
            timeout = min(timeout, self._flush_interval_s - (mono - self._finished_since))
        if timeout <= 0.0:
            return
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a
        # cancellation that arrives as the event is set, and the outbox never stops.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._wake.wait()
        self._wake.clear()

    async def _flush(self) -> None:
        finished, self._finished = self._finished, []
        if not finished:
            return
        await self._store.record(finished)
        for attempt in finished:
            if attempt.outcome == "retry":
                self._db_due_at = min(self._db_due_at, attempt.next_attempt_at)
            if attempt.outcome == "delivered":
                for future in self._waiters.pop(attempt.outbox_id, []):
                    if not future.done():
                        future.set_result(None)

    async def _attempt(self, row: OutboxRow, targets: Sequence[str]) -> None:
        try:
            attempt = await self._send(row, targets)
        except Exception as exc:  # never lose the row: log it and try again later
            log.exception("outbox row %d: send failed", row.id)
            attempt = self._retry(row, (), f"error: {exc}")
        finally:
            self._in_flight.discard(row.id)
            self._release(row)
        if not self._finished:
            self._finished_since = time.monotonic()
        self._finished.append(attempt)
        self._wake.set()

    def _release(self, row: OutboxRow) -> None:
        """The row's send ended: the next row of its address may go (ahead of its lane)."""
        address = row.address
        if address is None or self._busy.get(address) != row.id:
            return
        del self._busy[address]
        parked = self._parked.pop(address, None)
        if parked is not None and self._latest.get(address) == parked[1].id:
            lane, waiting = parked
            self._lanes[lane].appendleft(waiting)
            self._queued.add(waiting.id)
        elif self._latest.get(address) == row.id:
            del self._latest[address]  # nothing newer waits: forget the address

    async def _send(self, row: OutboxRow, targets: Sequence[str]) -> Attempt:
        now = self._clock()
        if row.expires_at is not None and row.expires_at <= now:
            return Attempt(row.id, "expired", (), now, now, "expired before it was sent")
        if now - row.created_at > self._give_up_after_s:
            return Attempt(row.id, "failed", (), now, now, "no relay took it in time")
        if not targets:  # pool.start() already warned that no relay is configured
            return self._retry(row, (), "no relays to send to", level=logging.DEBUG)
        event = nostr_sdk.Event.from_json(row.event_json)
        answers = await self._pool.send(event, targets, paced=True)
        results = tuple(RelayResult(url, a.ok, a.message) for url, a in answers.items())
        now = self._clock()
        if any(a.ok for a in answers.values()):
            self._delivered(row)
            return Attempt(row.id, "delivered", results, now, now)
        error = "; ".join(f"{r.relay_url}: {r.message}" for r in results)[:500]
        # A relay that dropped is logged once by the pool, not once per waiting event.
        waiting = all(a.message == "relay not connected" for a in answers.values())
        if answers and all(is_final_rejection(a) for a in answers.values()):
            log.warning(
                "outbox row %d (kind %d) refused by every relay: %s", row.id, row.kind, error
            )
            return Attempt(row.id, "failed", results, now, now, error)
        return self._retry(row, results, error, level=logging.DEBUG if waiting else logging.INFO)

    def _retry(
        self,
        row: OutboxRow,
        results: tuple[RelayResult, ...],
        error: str,
        level: int = logging.INFO,
    ) -> Attempt:
        delay = min(self._max_delay_s, self._base_delay_s * 2 ** min(row.attempts, 20))
        delay *= 0.5 + self._rng()  # jitter: rows that failed together do not retry together
        now = self._clock()
        log.log(
            level,
            "outbox row %d (kind %d) not sent, retry in %.0f s: %s",
            row.id,
            row.kind,
            delay,
            error,
        )
        return Attempt(row.id, "retry", results, now, now + delay, error)

    def _delivered(self, row: OutboxRow) -> None:
        delivery = Delivery(row.id, row.event_id, row.kind, row.address, time.monotonic())
        for listener in self._listeners:
            listener(delivery)


def _fresh_row(outbox_id: int, row: NewOutboxEvent, now: float) -> OutboxRow:
    return OutboxRow(
        id=outbox_id,
        event_id=row.event_id,
        kind=row.kind,
        address=row.address,
        event_json=row.event_json,
        relays=row.relays,
        attempts=0,
        expires_at=row.expires_at,
        state="pending",
        created_at=now,
        lane=row.lane,
    )
