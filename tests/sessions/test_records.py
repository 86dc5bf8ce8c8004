from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from bot.errors import IllegalTransition, SessionError
from bot.sessions.ids import id_tag_for
from bot.sessions.machine import (
    RESUME,
    TERMINAL,
    TRANSITIONS,
    Event,
    ResumeAction,
    State,
    transitions,
)
from bot.sessions.record import TopUpResult
from bot.sessions.records import SessionRecords
from bot.sessions.tariff import Quote
from bot.store.db import Database

QUOTE = Quote(created_at=1_700_000_000, price_msat_per_kwh=250_000, session_fee_msat=1000)
PAYER = "b" * 64


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store(db: Database) -> SessionRecords:
    return SessionRecords(db, clock=Clock())


async def new_session(store: SessionRecords, payment_hash: str = "ph-1") -> str:
    session = await store.create(
        "cp-001",
        1,
        QUOTE,
        payer_pubkey=PAYER,
        payer_relays=["wss://r1", "wss://r2"],
        payment_hash=payment_hash,
    )
    return session.id


async def charging(store: SessionRecords, payment_hash: str = "ph-1") -> str:
    sid = await new_session(store, payment_hash)
    await store.apply(sid, State.QUOTED, Event.INVOICE_PAID, paid_msat=2_000_000)
    await store.apply(sid, State.PAID, Event.START_REQUESTED, start_deadline=1.0)
    await store.apply(
        sid, State.STARTING, Event.TRANSACTION_STARTED, transaction_id=42, meter_start_wh=1000
    )
    return sid


async def test_create_and_find(store: SessionRecords) -> None:
    session = await store.load(await new_session(store))
    assert session.state is State.QUOTED
    assert session.quote == QUOTE
    assert session.payer_relays == ("wss://r1", "wss://r2")
    assert session.id_tag == id_tag_for(session.id)
    assert session.paid_msat == 0 and session.refund_msat is None
    assert session.token not in repr(session)
    assert await store.by_id_tag(session.id_tag.lower()) == session
    assert await store.by_token(session.token) == session
    assert await store.by_payment_hash("ph-1") == session
    assert await store.get("nope") is None
    with pytest.raises(SessionError, match="no session"):
        await store.load("nope")
    with pytest.raises(SessionError, match="already has a session"):
        await new_session(store, "ph-1")
    other = await store.load(await new_session(store, "ph-2"))
    assert len({session.token, other.token}) == 2
    assert len({session.id_tag, other.id_tag}) == 2


async def test_a_whole_life_is_logged(store: SessionRecords) -> None:
    sid = await charging(store)
    session = await store.by_transaction("cp-001", 42)
    assert session is not None and session.id == sid and session.state is State.CHARGING
    assert session.meter_start_wh == 1000
    await store.apply(sid, State.CHARGING, Event.BUDGET_REACHED, stop_reason="budget_reached")
    await store.apply(sid, State.STOPPING, Event.TRANSACTION_STOPPED, meter_stop_wh=5000)
    await store.apply(sid, State.SETTLING, Event.REFUND_DUE, refund_msat=500)
    final = await store.apply(sid, State.REFUNDING, Event.REFUND_PAID)
    assert final is not None and final.state is State.CLOSED
    assert (final.stop_reason, final.meter_stop_wh, final.refund_msat) == (
        "budget_reached",
        5000,
        500,
    )
    assert [e for _, _, e in await store.history(sid)] == [
        Event.INVOICE_PAID,
        Event.START_REQUESTED,
        Event.TRANSACTION_STARTED,
        Event.BUDGET_REACHED,
        Event.TRANSACTION_STOPPED,
        Event.REFUND_DUE,
        Event.REFUND_PAID,
    ]


async def test_the_table_guards_the_store(store: SessionRecords) -> None:
    sid = await new_session(store)
    with pytest.raises(IllegalTransition):
        await store.transition(sid, State.QUOTED, State.CHARGING)
    with pytest.raises(IllegalTransition):
        await store.apply(sid, State.QUOTED, Event.TRANSACTION_STARTED)
    with pytest.raises(IllegalTransition):  # the event leads elsewhere
        await store.transition(sid, State.QUOTED, State.EXPIRED, event=Event.INVOICE_PAID)
    with pytest.raises(SessionError, match="cannot set"):
        await store.transition(sid, State.QUOTED, State.PAID, token="mine")
    with pytest.raises(SessionError, match="cannot set"):
        await store.update(sid, State.QUOTED, state="charging")
    assert (await store.load(sid)).state is State.QUOTED
    assert await store.history(sid) == []


async def test_a_stale_expectation_loses(store: SessionRecords) -> None:
    sid = await new_session(store)
    assert await store.apply(sid, State.QUOTED, Event.INVOICE_PAID, paid_msat=5) is not None
    # A second worker still believing "quoted" (say, the expiry timer) must not win.
    assert await store.apply(sid, State.QUOTED, Event.INVOICE_EXPIRED) is None
    assert (await store.load(sid)).state is State.PAID
    assert await store.apply("nope", State.QUOTED, Event.INVOICE_PAID) is None
    assert len(await store.history(sid)) == 1


async def test_concurrent_callers_exactly_one_wins(store: SessionRecords) -> None:
    for n in range(5):
        sid = await new_session(store, f"ph-{n}")
        await store.apply(sid, State.QUOTED, Event.INVOICE_PAID, paid_msat=5)
        # 20 racers from the same read: some start it, some fail it for being offline.
        racers = [
            store.apply(sid, State.PAID, Event.START_REQUESTED if i % 2 else Event.CHARGER_OFFLINE)
            for i in range(20)
        ]
        results = await asyncio.gather(*racers)
        winners = [r for r in results if r is not None]
        assert len(winners) == 1
        assert (await store.load(sid)).state is winners[0].state
        assert len(await store.history(sid)) == 2


async def test_two_connections_cannot_both_win(tmp_path: Path) -> None:
    """Two Database objects on one file: separate SQLite connections, as two processes."""
    path = tmp_path / "shared.sqlite3"
    first, second = await Database.open(path), await Database.open(path)
    try:
        a, b = SessionRecords(first), SessionRecords(second)
        for n in range(10):
            sid = await new_session(a, f"ph-{n}")
            await a.apply(sid, State.QUOTED, Event.INVOICE_PAID, paid_msat=5)
            results = await asyncio.gather(
                *(
                    (a if i % 2 else b).apply(sid, State.PAID, Event.START_REQUESTED)
                    for i in range(6)
                )
            )
            assert sum(r is not None for r in results) == 1
            assert len(await b.history(sid)) == 2
    finally:
        await first.close()
        await second.close()


async def test_listing_for_resumption(store: SessionRecords) -> None:
    quoted = await new_session(store, "ph-q")
    running = await charging(store, "ph-c")
    expired = await new_session(store, "ph-e")
    await store.apply(expired, State.QUOTED, Event.INVOICE_EXPIRED)
    assert [s.id for s in await store.list_by_state(State.CHARGING)] == [running]
    assert {s.id for s in await store.list_unfinished()} == {quoted, running}
    assert {s.id for s in await store.active_on("cp-001", 1)} == {quoted, running}
    assert await store.active_on("cp-001", 2) == []
    assert [s.id for s in await store.active_on("cp-001", 1, {State.CHARGING})] == [running]


async def test_state_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "z.sqlite3"
    db = await Database.open(path)
    sid = await charging(SessionRecords(db))
    await db.close()
    db = await Database.open(path)
    try:
        session = await SessionRecords(db).load(sid)
        assert session.state is State.CHARGING and session.transaction_id == 42
    finally:
        await db.close()


async def test_topups(store: SessionRecords) -> None:
    sid = await charging(store)
    assert await store.add_topup(sid, "ph-t1", 500_000, payer_pubkey=PAYER) is (TopUpResult.APPLIED)
    # The payment notification replayed after a restart counts once.
    assert await store.add_topup(sid, "ph-t1", 500_000, payer_pubkey=PAYER) is (
        TopUpResult.ALREADY_APPLIED
    )
    session = await store.load(sid)
    assert session.paid_msat == 2_500_000 and session.state is State.CHARGING
    await store.apply(sid, State.CHARGING, Event.TRANSACTION_STOPPED)
    # Settling froze paid_msat: this payment must be refunded on its own.
    assert await store.add_topup(sid, "ph-t2", 100, payer_pubkey=PAYER) is TopUpResult.REFUSED
    assert (await store.load(sid)).paid_msat == 2_500_000
    assert [(t.payment_hash, t.amount_msat) for t in await store.topups(sid)] == [
        ("ph-t1", 500_000)
    ]
    with pytest.raises(ValueError, match="positive"):
        await store.add_topup(sid, "ph-t3", 0, payer_pubkey=None)


async def test_concurrent_replays_of_one_topup_count_once(store: SessionRecords) -> None:
    sid = await charging(store)
    results = await asyncio.gather(
        *(store.add_topup(sid, "ph-t", 1000, payer_pubkey=PAYER) for _ in range(10))
    )
    assert results.count(TopUpResult.APPLIED) == 1
    assert (await store.load(sid)).paid_msat == 2_001_000


async def test_consumption_is_frozen_once_settling(store: SessionRecords) -> None:
    sid = await charging(store)
    assert await store.record_consumption(
        sid, energy_wh=1234, minutes=3, idle_minutes=0, consumed_msat=308_500, fees_msat=1000
    )
    session = await store.load(sid)
    assert (session.energy_wh, session.consumed_msat, session.minutes) == (1234, 308_500, 3)
    assert session.last_meter_at is not None
    await store.apply(sid, State.CHARGING, Event.DRIVER_STOP, stop_reason="driver_stop")
    assert await store.record_consumption(
        sid, energy_wh=1300, minutes=4, idle_minutes=0, consumed_msat=325_000, fees_msat=1000
    )
    await store.apply(sid, State.STOPPING, Event.STOP_TIMEOUT)
    assert not await store.record_consumption(
        sid, energy_wh=9999, minutes=9, idle_minutes=0, consumed_msat=1, fees_msat=1
    )
    assert (await store.load(sid)).energy_wh == 1300


async def test_update_records_facts_only_in_the_expected_state(store: SessionRecords) -> None:
    sid = await new_session(store)
    await store.apply(sid, State.QUOTED, Event.INVOICE_PAID, paid_msat=5)
    await store.apply(sid, State.PAID, Event.START_REQUESTED)
    assert await store.update(sid, State.STARTING, start_accepted_at=123.0)
    assert not await store.update(sid, State.CHARGING, progress_wh=5)
    session = await store.load(sid)
    assert session.start_accepted_at == 123.0 and session.progress_wh == 0
    assert len(await store.history(sid)) == 2  # facts are not transitions


def path_to(target: State) -> list[Event]:
    """The shortest run of events from quoted to ``target``, found in the table itself."""
    paths: dict[State, list[Event]] = {State.QUOTED: []}
    frontier = [State.QUOTED]
    while frontier:
        state = frontier.pop(0)
        for event, nxt in TRANSITIONS[state].items():
            if nxt not in paths:
                paths[nxt] = [*paths[state], event]
                frontier.append(nxt)
    return paths[target]


@pytest.mark.parametrize("target", list(State))
async def test_every_state_is_found_again_after_a_restart(tmp_path: Path, target: State) -> None:
    path = tmp_path / "z.sqlite3"
    db = await Database.open(path)
    store = SessionRecords(db)
    sid = await new_session(store)
    state = State.QUOTED
    for event in path_to(target):
        moved = await store.apply(sid, state, event)
        assert moved is not None
        state = moved.state
    await db.close()
    db = await Database.open(path)
    try:
        store = SessionRecords(db)
        unfinished = {s.id: s.state for s in await store.list_unfinished()}
        if target in TERMINAL:
            assert sid not in unfinished
        else:
            assert unfinished[sid] is target
            assert RESUME[target].action is not ResumeAction.NOTHING
        history = await store.history(sid)
        assert [event for _, _, event in history] == path_to(target)
        assert all(to is target for _, to, _ in history[-1:])
    finally:
        await db.close()


async def test_a_refund_only_session_is_written_failed_to_start_once(
    store: SessionRecords, db: Database
) -> None:
    sid = await charging(store)
    origin = await store.load(sid)
    refund = await store.open_refund(origin, "late-1", 300_000, reason="topup_after_end")
    again = await store.open_refund(origin, "late-1", 300_000, reason="topup_after_end")
    assert again.id == refund.id != sid
    assert refund.state is State.FAILED_TO_START and refund.paid_msat == 300_000
    assert refund.payer_pubkey == PAYER and refund.payer_relays == origin.payer_relays
    assert (refund.charger_id, refund.connector_id) == ("cp-001", 1)
    assert refund.transaction_id is None and refund.stop_reason == "topup_after_end"
    assert await store.history(refund.id) == [
        (State.QUOTED, State.PAID, Event.INVOICE_PAID),
        (State.PAID, State.FAILED_TO_START, Event.LATE_TOPUP),
    ]
    assert (await store.by_payment_hash("late-1")) == again
    assert (await store.load(sid)).paid_msat == 2_000_000  # the origin is untouched
    rows = await db.fetchall("SELECT id FROM sessions WHERE payment_hash = 'late-1'")
    assert len(rows) == 1


@pytest.mark.parametrize(("state", "event", "target"), list(transitions()), ids=str)
async def test_every_transition_of_the_table_is_written_through_it(
    db: Database, state: State, event: Event, target: State
) -> None:
    # Walk to ``state``, take ``event``: the record ends in ``target`` and its log holds
    # exactly the table rows it went through, nothing written around them.
    store = SessionRecords(db, clock=Clock())
    sid = await new_session(store)
    current = State.QUOTED
    for step in [*path_to(state), event]:
        moved = await store.apply(sid, current, step)
        assert moved is not None
        current = moved.state
    assert current is target
    history = await store.history(sid)
    assert len(history) == len(path_to(state)) + 1
    for old, new, logged in history:
        assert logged is not None and TRANSITIONS[old][logged] is new


async def test_every_state_a_session_was_ever_in_came_through_the_table(
    store: SessionRecords,
) -> None:
    # The refund-only session of a late top-up is born moved: its log is the table's path.
    origin = await store.load(await charging(store))
    refund = await store.open_refund(origin, "ph-late", 5000, reason="late")
    history = await store.history(refund.id)
    assert [h[0] for h in history] == [State.QUOTED, State.PAID]
    for old, new, logged in history:
        assert logged is not None and TRANSITIONS[old][logged] is new
    assert history[-1][1] is refund.state is State.FAILED_TO_START


def test_no_state_write_goes_around_the_records() -> None:
    # Only bot/store/sessions.py writes sessions rows, and only bot/sessions/records.py
    # holds the object that does (SessionRows): every state write passes the table.
    root = Path(__file__).resolve().parents[2] / "bot"
    writers, holders = [], []
    for path in sorted(root.rglob("*.py")):
        text = path.read_text()
        name = path.relative_to(root.parent).as_posix()
        if re.search(r"(UPDATE|INSERT INTO|DELETE FROM)\s+sessions\b", text):
            writers.append(name)
        if "SessionRows" in text:
            holders.append(name)
    assert writers == ["bot/store/sessions.py"]
    assert holders == ["bot/sessions/records.py", "bot/store/sessions.py"]
