from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.errors import SessionError
from bot.sessions.machine import Event, State
from bot.sessions.records import SessionRecords
from bot.sessions.refunding import refund_rows
from bot.sessions.tariff import Quote
from bot.store.db import Database
from bot.store.refunds import RefundMethod, RefundStatus, RefundStore

AMOUNT = 894_000
WEEK = 7 * 24 * 3600


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sessions(db: Database, clock: Clock) -> SessionRecords:
    return SessionRecords(db, clock=clock)


@pytest.fixture
def refunds(db: Database, clock: Clock) -> RefundStore:
    return refund_rows(db, clock=clock)


async def refunding(sessions: SessionRecords, name: str = "ph") -> str:
    """A session that failed to start and now owes AMOUNT back."""
    session = await sessions.create(
        "cp-001", 1, Quote(0, 250_000), payer_pubkey=None, payment_hash=name
    )
    await sessions.apply(session.id, State.QUOTED, Event.INVOICE_PAID, paid_msat=AMOUNT)
    await sessions.apply(session.id, State.PAID, Event.CHARGER_OFFLINE)
    await sessions.apply(session.id, State.FAILED_TO_START, Event.REFUND_DUE, refund_msat=AMOUNT)
    return session.id


async def test_claim_then_pay(sessions: SessionRecords, refunds: RefundStore) -> None:
    sid = await refunding(sessions)
    claim = await refunds.claim_refund(sid, AMOUNT, RefundMethod.LUD16)
    assert claim is not None and claim.status is RefundStatus.PENDING and claim.attempts == 1
    assert await refunds.claim_refund(sid, AMOUNT, RefundMethod.LUD16) is None
    assert await refunds.set_invoice(sid, "lnbc1...", "hash-1")
    assert not await refunds.set_invoice(sid, "lnbc1other", "hash-2")  # one invoice per claim
    assert await refunds.mark_paid(sid)
    refund = await refunds.get(sid)
    assert refund is not None and refund.status is RefundStatus.PAID
    assert refund.payment_hash == "hash-1"
    # Paid is final: no new claim, no release.
    assert await refunds.claim_refund(sid, AMOUNT, RefundMethod.LUD16) is None
    assert not await refunds.release(sid, "too late")
    assert await refunds.offer_withdraw(sid, AMOUNT, WEEK) is None


async def test_a_claim_needs_a_refunding_session_and_its_exact_amount(
    sessions: SessionRecords, refunds: RefundStore
) -> None:
    sid = await refunding(sessions)
    with pytest.raises(SessionError, match="owes"):
        await refunds.claim_refund(sid, AMOUNT + 1, RefundMethod.LUD16)
    other = await sessions.create("cp-001", 1, Quote(0, 1), payer_pubkey=None)
    with pytest.raises(SessionError, match="not refunding"):
        await refunds.claim_refund(other.id, AMOUNT, RefundMethod.LUD16)
    with pytest.raises(SessionError, match="no session"):
        await refunds.claim_refund("nope", AMOUNT, RefundMethod.LUD16)
    assert await refunds.get(sid) is None


async def test_pending_stays_pending_release_only_on_definite_failure(
    sessions: SessionRecords, refunds: RefundStore
) -> None:
    sid = await refunding(sessions)
    await refunds.claim_refund(sid, AMOUNT, RefundMethod.LUD16)
    await refunds.set_invoice(sid, "lnbc1...", "hash-1")
    # An unknown outcome is no reason to let anyone claim again.
    assert await refunds.claim_refund(sid, AMOUNT, RefundMethod.LUD16) is None
    assert await refunds.offer_withdraw(sid, AMOUNT, WEEK) is None
    assert await refunds.release(sid, "no route (205)")
    released = await refunds.get(sid)
    assert released is not None and released.status is RefundStatus.RELEASED
    assert released.error == "no route (205)"
    assert not await refunds.mark_paid(sid)  # only a pending claim can be paid
    again = await refunds.claim_refund(sid, AMOUNT, RefundMethod.LUD16)
    assert again is not None and again.attempts == 2 and again.payment_hash is None


async def test_concurrent_claims_exactly_one_wins(
    sessions: SessionRecords, refunds: RefundStore
) -> None:
    for n in range(5):
        sid = await refunding(sessions, f"ph-{n}")
        results = await asyncio.gather(
            *(
                refunds.claim_refund(sid, AMOUNT, RefundMethod.LUD16)
                if i % 2
                else refunds.offer_withdraw(sid, AMOUNT, WEEK)
                for i in range(10)
            )
        )
        assert sum(r is not None for r in results) == 1


async def test_claims_from_two_connections_exactly_one_wins(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite3"
    first, second = await Database.open(path), await Database.open(path)
    try:
        sessions = SessionRecords(first)
        stores = (refund_rows(first), refund_rows(second))
        for n in range(10):
            sid = await refunding(sessions, f"ph-{n}")
            results = await asyncio.gather(
                *(stores[i % 2].claim_refund(sid, AMOUNT, RefundMethod.LUD16) for i in range(6))
            )
            assert sum(r is not None for r in results) == 1
    finally:
        await first.close()
        await second.close()


async def test_withdraw_k1_is_spent_exactly_once(
    sessions: SessionRecords, refunds: RefundStore
) -> None:
    sid = await refunding(sessions)
    offer = await refunds.offer_withdraw(sid, AMOUNT, WEEK)
    assert offer is not None and offer.k1 is not None and offer.status is RefundStatus.OFFERED
    assert offer.k1 not in repr(offer)
    k1 = offer.k1
    assert await refunds.withdraw_offer(k1) == offer
    # A lightning-address refund cannot run beside a live withdraw link.
    assert await refunds.claim_refund(sid, AMOUNT, RefundMethod.LUD16) is None
    assert await refunds.claim_k1(k1, AMOUNT - 1, "lnbc1small", "h0") is None  # wrong amount
    assert await refunds.claim_k1("00" * 32, AMOUNT, "lnbc1", "h0") is None  # unknown k1
    claimed = await refunds.claim_k1(k1, AMOUNT, "lnbc1driver", "hash-w")
    assert claimed is not None and claimed.status is RefundStatus.PENDING
    assert (claimed.bolt11, claimed.payment_hash) == ("lnbc1driver", "hash-w")
    assert claimed.k1_claimed_at is not None
    assert await refunds.claim_k1(k1, AMOUNT, "lnbc1again", "hash-x") is None  # reuse
    assert await refunds.withdraw_offer(k1) is None


async def test_concurrent_k1_claims_exactly_one_wins(
    sessions: SessionRecords, refunds: RefundStore
) -> None:
    sid = await refunding(sessions)
    offer = await refunds.offer_withdraw(sid, AMOUNT, WEEK)
    assert offer is not None and offer.k1 is not None
    results = await asyncio.gather(
        *(refunds.claim_k1(offer.k1, AMOUNT, f"lnbc1w{i}", f"h{i}") for i in range(10))
    )
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    refund = await refunds.get(sid)
    assert refund is not None and refund.bolt11 == winners[0].bolt11


async def test_k1_expires_and_is_renewed_with_a_new_one(
    sessions: SessionRecords, refunds: RefundStore, clock: Clock
) -> None:
    sid = await refunding(sessions)
    offer = await refunds.offer_withdraw(sid, AMOUNT, 3600)
    assert offer is not None and offer.k1 is not None
    assert await refunds.offer_withdraw(sid, AMOUNT, 3600) is None  # the live one stands
    clock.now += 3600
    assert await refunds.withdraw_offer(offer.k1) is None
    assert await refunds.claim_k1(offer.k1, AMOUNT, "lnbc1late", "h") is None
    renewed = await refunds.offer_withdraw(sid, AMOUNT, 3600)
    assert renewed is not None and renewed.k1 not in (None, offer.k1)
    assert renewed.attempts == 2 and renewed.k1_expires_at == clock.now + 3600
    assert await refunds.claim_k1(offer.k1, AMOUNT, "lnbc1old", "h") is None  # old k1 is dead
    assert renewed.k1 is not None
    assert await refunds.claim_k1(renewed.k1, AMOUNT, "lnbc1new", "h") is not None


async def test_a_released_withdraw_kills_its_k1(
    sessions: SessionRecords, refunds: RefundStore
) -> None:
    sid = await refunding(sessions)
    offer = await refunds.offer_withdraw(sid, AMOUNT, WEEK)
    assert offer is not None and offer.k1 is not None
    await refunds.claim_k1(offer.k1, AMOUNT, "lnbc1bad", "h")
    assert await refunds.release(sid, "invoice expired (207)")
    refund = await refunds.get(sid)
    assert refund is not None and refund.k1 is None
    assert await refunds.claim_k1(offer.k1, AMOUNT, "lnbc1again", "h2") is None
    fresh = await refunds.offer_withdraw(sid, AMOUNT, WEEK)
    assert fresh is not None and fresh.k1 != offer.k1 and fresh.bolt11 is None
