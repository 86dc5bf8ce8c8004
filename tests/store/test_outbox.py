from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.store import Database, outbox
from bot.store.outbox import Attempt, NewOutboxEvent, OutboxStore, RelayResult

LANES = (0, 1, 2)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[OutboxStore]:
    db = await Database.open(tmp_path / "z.sqlite3")
    try:
        yield OutboxStore(db)
    finally:
        await db.close()


def event(
    n: int, *, address: str | None = None, expires_at: float | None = None, lane: int = 0
) -> NewOutboxEvent:
    return NewOutboxEvent(
        event_id=f"{n:064x}",
        kind=1,
        pubkey="ab" * 32,
        event_json=f'{{"n": {n}}}',
        relays=("ws://127.0.0.1:1",),
        address=address,
        expires_at=expires_at,
        lane=lane,
    )


async def ids(store: OutboxStore, events: list[NewOutboxEvent], now: float) -> list[int]:
    return [outbox_id for outbox_id, _ in await store.add(events, now)]


async def test_an_event_is_stored_once_and_keeps_its_row(store: OutboxStore) -> None:
    first = await store.add([event(1), event(2)], now=100.0)
    again = await store.add([event(1)], now=200.0)
    assert [new for _, new in first] == [True, True]
    assert again == [(first[0][0], False)]
    row = await store.get(first[0][0])
    assert row is not None
    assert (
        row.state == "pending" and row.relays == ("ws://127.0.0.1:1",) and row.created_at == 100.0
    )


async def test_claimed_rows_are_leased_until_the_lease_runs_out(store: OutboxStore) -> None:
    await store.add([event(1), event(2), event(3)], now=100.0)
    claimed = await store.claim_due(now=100.0, limit=2, lease_s=60.0, lanes=LANES)
    assert [r.event_id[-1] for r in claimed] == ["1", "2"]
    assert [r.event_id[-1] for r in await store.claim_due(100.0, 10, 60.0, LANES)] == ["3"]
    assert await store.claim_due(150.0, 10, 60.0, LANES) == []
    assert len(await store.claim_due(161.0, 10, 60.0, LANES)) == 3  # a crash mid-send only delays
    assert await store.claim_due(161.0, 0, 60.0, LANES) == []


async def test_only_the_rows_the_caller_takes_are_leased_and_claims_go_lane_by_lane(
    store: OutboxStore,
) -> None:
    rows = [event(1, lane=2), event(2, lane=1), event(3, lane=2), event(4, lane=0)]
    await store.add(rows, now=100.0, lease_s=60.0, leased=[True, False, False, False])
    claimed = await store.claim_due(now=100.0, limit=10, lease_s=100.0, lanes=LANES)
    assert [r.event_id[-1] for r in claimed] == ["4", "2", "3"]  # lane, then age
    assert [r.lane for r in claimed] == [0, 1, 2]
    # The caller's own row comes back once its lease runs out (a crash mid-send).
    assert [r.event_id[-1] for r in await store.claim_due(160.0, 10, 60.0, LANES)] == ["1"]
    with pytest.raises(ValueError, match="every event"):
        await store.add([event(5)], now=100.0, leased=[])


async def test_a_claim_reads_one_index_range_per_lane_and_sorts_nothing(
    store: OutboxStore, tmp_path: Path
) -> None:
    await store.add([event(n, lane=n % 3) for n in range(30)], now=100.0)
    db = await Database.open(tmp_path / "z.sqlite3")
    try:
        plan = await db.fetchall(f"EXPLAIN QUERY PLAN {outbox._SELECT_DUE}", (1, 200.0, 5))
    finally:
        await db.close()
    details = " ".join(str(row["detail"]) for row in plan)
    assert "outbox_due_by_lane" in details and "TEMP B-TREE" not in details
    claimed = await store.claim_due(200.0, 5, 60.0, LANES)
    assert [r.lane for r in claimed] == [0] * 5


async def test_outcomes_and_per_relay_results_are_recorded(store: OutboxStore) -> None:
    a, b, c = await ids(store, [event(1), event(2), event(3)], now=100.0)
    refused = RelayResult("ws://r1", False, "blocked: no")
    await store.record(
        [
            Attempt(a, "retry", (refused,), at=101.0, next_attempt_at=105.0, error="down"),
            Attempt(b, "failed", (refused,), at=101.0, next_attempt_at=101.0, error="refused"),
            Attempt(c, "expired", (), at=101.0, next_attempt_at=101.0),
        ]
    )
    await store.record([Attempt(a, "delivered", (RelayResult("ws://r1", True, ""),), 106.0, 106.0)])
    # A later failure never overwrites a relay's OK.
    await store.record([Attempt(a, "retry", (refused,), 107.0, 110.0)])
    assert await store.results(a) == [RelayResult("ws://r1", True, "")]
    assert await store.ok_relays(a) == {"ws://r1"}
    states = {i: (await store.get(i)).state for i in (a, b, c)}  # type: ignore[union-attr]
    assert states == {a: "delivered", b: "failed", c: "expired"}
    assert await store.counts() == {"delivered": 1, "failed": 1, "expired": 1}
    assert await store.next_due_at() is None


async def test_a_newer_replaceable_event_supersedes_a_pending_older_one(store: OutboxStore) -> None:
    old, other = await ids(store, [event(1, address="33600:ab:cp"), event(2, address="0:ab:")], 1.0)
    (new,) = await ids(store, [event(3, address="33600:ab:cp")], now=2.0)
    assert (await store.get(old)).state == "superseded"  # type: ignore[union-attr]
    assert (await store.get(other)).state == "pending"  # type: ignore[union-attr]
    assert [r.id for r in await store.claim_due(3.0, 10, 60.0, LANES)] == [other, new]


async def test_retry_now_makes_waiting_rows_due(store: OutboxStore) -> None:
    (a,) = await ids(store, [event(1)], now=100.0)
    await store.record([Attempt(a, "retry", (), 101.0, 500.0)])
    assert await store.next_due_at() == 500.0
    assert await store.retry_now(200.0) == 1
    assert [r.id for r in await store.claim_due(200.0, 10, 60.0, LANES)] == [a]


async def test_prune_forgets_finished_rows_only(store: OutboxStore) -> None:
    a, b = await ids(store, [event(1), event(2)], now=100.0)
    await store.record([Attempt(a, "delivered", (RelayResult("ws://r", True, ""),), 101.0, 101.0)])
    assert await store.prune(before=200.0) == 1
    assert await store.get(a) is None and await store.results(a) == []
    assert await store.get(b) is not None
