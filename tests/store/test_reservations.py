"""The reservations' rows (bot.store.reservations) through their book (bot.reservations.book):
compare-and-set moves checked against the table, one winner, the log, notices once."""

from __future__ import annotations

import time

import pytest

from bot.errors import IllegalTransition, StoreError
from bot.reservations.book import ReservationBook
from bot.reservations.machine import Event, State
from bot.sessions.tariff import Quote
from bot.store import Database
from bot.store.chargers import ChargerStore


async def _book(db: Database) -> ReservationBook:
    await ChargerStore(db).register([("cp-001", "a" * 64)])
    return ReservationBook(db)


async def _open(book: ReservationBook, payment_hash: str = "f" * 64, connector: int = 1) -> int:
    found = await book.open(
        "cp-001",
        connector,
        token=f"token-{payment_hash[:4]}",
        id_tag="ZCRESERVATIONTAG0001",
        payer_pubkey="b" * 64,
        payer_relays=["wss://relay.example.org"],
        quote=Quote(created_at=int(time.time()), price_msat_per_kwh=250_000),
        payment_hash=payment_hash,
        fee_msat=200_000,
        minutes=15.0,
    )
    assert found.state is State.QUOTED and found.paid_msat == 0
    return found.id


async def test_a_move_is_compare_and_set_with_its_log(db: Database) -> None:
    book = await _book(db)
    rid = await _open(book)
    paid = await book.apply(rid, State.QUOTED, Event.INVOICE_PAID, paid_msat=200_000)
    assert paid is not None and paid.state is State.PAID and paid.paid_msat == 200_000
    # The second caller that read "quoted" loses.
    assert await book.apply(rid, State.QUOTED, Event.INVOICE_PAID, paid_msat=1) is None
    assert (await book.load(rid)).paid_msat == 200_000
    assert await book.history(rid) == [(State.QUOTED, State.PAID, Event.INVOICE_PAID)]
    with pytest.raises(IllegalTransition):
        await book.apply(rid, State.PAID, Event.TIME_UP)
    with pytest.raises(StoreError):
        await book.update(rid, State.PAID, state="reserved")


async def test_holding_active_and_release(db: Database) -> None:
    book = await _book(db)
    first, second = await _open(book, "1" * 64), await _open(book, "2" * 64, connector=2)
    assert await book.holding("cp-001") == []  # quoted holds nothing
    await book.apply(first, State.QUOTED, Event.INVOICE_PAID, paid_msat=200_000)
    await book.apply(first, State.PAID, Event.RESERVE_REQUESTED, reserved_at=1.0, expires_at=2.0)
    assert [r.id for r in await book.holding("cp-001")] == [first]
    assert [r.id for r in await book.active()] == [first]
    moved = await book.apply(first, State.RESERVING, Event.REFUSED, release_pending=True)
    assert moved is not None and moved.release_pending
    assert await book.holding("cp-001") == []
    assert [r.id for r in await book.to_release()] == [first]
    await book.released(first)
    assert await book.to_release() == []
    assert (await book.load(second)).state is State.QUOTED


async def test_payment_hash_and_token_are_unique_and_found(db: Database) -> None:
    book = await _book(db)
    rid = await _open(book)
    found = await book.by_payment_hash("f" * 64)
    assert found is not None and found.id == rid
    assert await book.by_token("token-ffff") == found
    with pytest.raises(Exception, match="UNIQUE"):
        await _open(book)


async def test_a_notice_is_claimed_once(db: Database) -> None:
    book = await _book(db)
    rid = await _open(book)
    assert await book.claim_notice(rid, "reserved")
    assert not await book.claim_notice(rid, "reserved")
    assert await book.claim_notice(rid, "expired")
