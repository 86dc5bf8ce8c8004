"""Session core: the money arithmetic per call, and 200 concurrent session lives in the store.

Every session is walked from quoted to closed (charging, a top-up on every third, stop,
settlement, refund claim and payment) by its own task on one database, as the service
would after 200 zaps at once. The books must balance to the msat at the end.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Unpack

from bot.sessions.machine import Event, State
from bot.sessions.record import SessionFields
from bot.sessions.records import SessionRecords
from bot.sessions.refunding import refund_rows
from bot.sessions.settlement import settle
from bot.sessions.tariff import Quote, cost_msat, stop_threshold_wh
from bot.store import Database
from bot.store.refunds import RefundMethod, RefundStore

SESSIONS = 200
CALLS = 100_000
QUOTE = Quote(0, 250_000, session_fee_msat=50_000, per_minute_msat=100)


def _pure() -> None:
    started = time.perf_counter()
    for i in range(CALLS):
        cost_msat(QUOTE, i, i // 60, 0)
    cost_rate = CALLS / (time.perf_counter() - started)
    started = time.perf_counter()
    for i in range(CALLS):
        stop_threshold_wh(QUOTE, 10_000_000 + i, 22_000, 15, minutes=i % 600)
    threshold_rate = CALLS / (time.perf_counter() - started)
    print(f"cost_msat: {cost_rate:,.0f}/s; stop_threshold_wh: {threshold_rate:,.0f}/s")


async def _life(
    sessions: SessionRecords, refunds: RefundStore, n: int, rng: random.Random
) -> tuple[int, int, int, list[float]]:
    """One session from quote to close; returns (paid, kept, refunded, transition times)."""
    times: list[float] = []

    async def step(sid: str, state: State, event: Event, **fields: Unpack[SessionFields]) -> None:
        started = time.perf_counter()
        assert await sessions.apply(sid, state, event, **fields) is not None
        times.append(time.perf_counter() - started)

    session = await sessions.create(f"cp-{n:03d}", 1, QUOTE, payer_pubkey=None)
    sid, paid = session.id, rng.randrange(1_000_000, 20_000_000)
    await step(sid, State.QUOTED, Event.INVOICE_PAID, paid_msat=paid)
    await step(sid, State.PAID, Event.START_REQUESTED)
    await step(sid, State.STARTING, Event.TRANSACTION_STARTED, transaction_id=n)
    if n % 3 == 0:
        await sessions.add_topup(sid, f"topup-{n}", 500_000, payer_pubkey=None)
        paid += 500_000
    energy, minutes = rng.randrange(0, 60_000), rng.randrange(0, 300)
    await step(sid, State.CHARGING, Event.DRIVER_STOP)
    await step(sid, State.STOPPING, Event.TRANSACTION_STOPPED, energy_wh=energy, minutes=minutes)
    s = settle(QUOTE, (await sessions.load(sid)).paid_msat, energy, minutes, 0)
    if not s.due:
        await step(sid, State.SETTLING, Event.NOTHING_DUE, consumed_msat=s.consumed_msat)
        return paid, s.consumed_msat + s.fees_msat, 0, times
    await step(sid, State.SETTLING, Event.REFUND_DUE, refund_msat=s.refund_msat)
    assert await refunds.claim_refund(sid, s.refund_msat, RefundMethod.LUD16) is not None
    assert await refunds.mark_paid(sid)
    await step(sid, State.REFUNDING, Event.REFUND_PAID)
    return paid, s.consumed_msat + s.fees_msat, s.refund_msat, times


async def _concurrent() -> None:
    rng = random.Random(7)  # noqa: S311 -- repeatable amounts, not secrets
    with tempfile.TemporaryDirectory() as tmp:
        db = await Database.open(Path(tmp) / "bench.sqlite3")
        try:
            sessions, refunds = SessionRecords(db), refund_rows(db)
            started = time.perf_counter()
            results = await asyncio.gather(
                *(_life(sessions, refunds, n, rng) for n in range(SESSIONS))
            )
            elapsed = time.perf_counter() - started
            closed = await sessions.list_by_state(State.CLOSED)
            stored = await db.fetchone(
                "SELECT SUM(amount_msat) AS refunded, COUNT(*) AS n FROM refunds"
                " WHERE status = 'paid'"
            )
        finally:
            await db.close()
    paid = sum(r[0] for r in results)
    kept, refunded = sum(r[1] for r in results), sum(r[2] for r in results)
    latencies = sorted(t for r in results for t in r[3])
    assert len(closed) == SESSIONS, "a session was lost"
    assert paid == kept + refunded, "the books do not balance"
    assert stored is not None and (stored["refunded"] or 0) == refunded
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[int(len(latencies) * 0.99)] * 1000
    print(
        f"{SESSIONS} concurrent sessions quoted->closed in {elapsed:.2f} s "
        f"({len(latencies) / elapsed:,.0f} transitions/s); transition p50 {p50:.1f} ms, "
        f"p99 {p99:.1f} ms under that load; closed {len(closed)}/{SESSIONS}, "
        f"refunds {stored['n']}; paid {paid} = kept {kept} + refunded {refunded} msat"
    )


async def _alone() -> None:
    """One transition at a time: the cost a paid invoice pays before RemoteStart goes out."""
    with tempfile.TemporaryDirectory() as tmp:
        db = await Database.open(Path(tmp) / "bench.sqlite3")
        try:
            sessions, latencies = SessionRecords(db), []
            for _ in range(SESSIONS):
                sid = (await sessions.create("cp-001", 1, QUOTE, payer_pubkey=None)).id
                await sessions.apply(sid, State.QUOTED, Event.INVOICE_PAID, paid_msat=1)
                started = time.perf_counter()
                await sessions.apply(sid, State.PAID, Event.START_REQUESTED)
                latencies.append(time.perf_counter() - started)
        finally:
            await db.close()
    latencies.sort()
    print(
        f"paid->starting persisted alone: p50 {statistics.median(latencies) * 1000:.2f} ms, "
        f"p99 {latencies[int(len(latencies) * 0.99)] * 1000:.2f} ms (synchronous=FULL commit)"
    )


async def run() -> None:
    _pure()
    await _alone()
    await _concurrent()
