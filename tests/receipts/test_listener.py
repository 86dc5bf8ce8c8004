"""The listener against a LocalRelay and the simulated node acting as the operator's node."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bot.backoff import Backoff
from bot.config import ChargerConfig, RelayConfig
from bot.config.keys import generate_keys
from bot.config.pricing import parse_pricing
from bot.errors import LnurlError
from bot.lightning.cln import ClnBackend
from bot.lightning.simnode import SimnodeClient
from bot.nostr.keys import sdk_keys
from bot.nostr.pool import RelayPool
from bot.nostr.receipt_feed import RelayReceiptFeed
from bot.nostr.relay import LocalRelay
from bot.pricing.service import PricingService
from bot.receipts.listener import ReceiptListener
from bot.sessions.machine import State
from bot.sessions.quotes import pricing_quote
from bot.sessions.records import SessionRecords
from bot.store import Database
from bot.store.receipts import Claim
from tests.nostr.support import wait_until
from tests.receipts.support import Recorder, Zapper, listening, register, zapper_charger

AMOUNT = 5_000_000


async def no_lookup(address: str) -> str:
    raise LnurlError("not asked in these tests")


def bot_pool(urls: Sequence[str]) -> RelayPool:
    return RelayPool([RelayConfig(u, read=True, write=False) for u in urls])


@pytest.fixture
async def zapper(
    backend: ClnBackend, wallet: SimnodeClient, relay: LocalRelay, relay2: LocalRelay
) -> AsyncIterator[Zapper]:
    zapper = Zapper(backend, wallet, [relay.url, relay2.url])
    try:
        yield zapper
    finally:
        await zapper.close()


@pytest.fixture
async def charger(zapper: Zapper, db: Database) -> ChargerConfig:
    charger = zapper_charger(zapper.keys)
    await register(db, charger)
    return charger


def listener_for(
    charger: ChargerConfig,
    pool: RelayPool,
    db: Database,
    backend: ClnBackend,
    recorder: Recorder,
    **options: Any,
) -> ReceiptListener:
    return ReceiptListener(
        [charger],
        RelayReceiptFeed(pool),
        db,
        backend,
        recorder,
        network="regtest",
        lookup=no_lookup,
        node_retry_s=(),
        **options,
    )


async def test_a_confirmed_receipt_starts_one_session(
    zapper: Zapper, charger: ChargerConfig, db: Database, backend: ClnBackend, relay: LocalRelay
) -> None:
    recorder = Recorder()
    pool = bot_pool([relay.url])
    listener = listener_for(charger, pool, db, backend, recorder)
    sessions = SessionRecords(db)
    async with listening(listener, pool):
        zap = await zapper.zap(charger.keys.public_key_hex, AMOUNT, comment="connector 2 please")
        await zapper.publish(zap.receipt, [relay.url])
        await wait_until(lambda: _done(db, 1), what="session_paid")
    session = await sessions.by_payment_hash(zap.payment_hash)
    assert session is not None
    assert (session.charger_id, session.connector_id, session.state) == ("cp-001", 2, State.QUOTED)
    assert session.payer_pubkey == zap.driver
    assert session.payer_relays == tuple(zapper.relays)
    assert session.quote.price_msat_per_kwh == charger.tariff.price_msat_per_kwh
    ((payment_hash, amount, paid_at),) = recorder.paid
    assert (payment_hash, amount) == (zap.payment_hash, AMOUNT)
    assert abs(paid_at - time.time()) < 60
    claim = await listener.store.get(zap.payment_hash)
    assert claim is not None and (claim.state, claim.session_id) == ("done", session.id)
    assert await listener.store.cursor() == claim.receipt_created_at


async def test_a_zap_through_the_operators_zapper_is_priced_like_our_own(
    zapper: Zapper, charger: ChargerConfig, db: Database, backend: ClnBackend, relay: LocalRelay
) -> None:
    table = {
        "kind": "schedule",
        "timezone": "UTC",
        "window": [{"start": "00:00", "end": "24:00", "price_msat_per_kwh": 123_000}],
    }
    priced = replace(charger, pricing=parse_pricing("cp.toml", table, 250_000))
    quote = pricing_quote(PricingService.from_chargers([priced], None))  # as app.py wires it
    pool = bot_pool([relay.url])
    listener = listener_for(priced, pool, db, backend, Recorder(), quote=quote)
    async with listening(listener, pool):
        zap = await zapper.zap(charger.keys.public_key_hex, AMOUNT)
        await zapper.publish(zap.receipt, [relay.url])
        await wait_until(lambda: _done(db, 1), what="session_paid")
    session = await SessionRecords(db).by_payment_hash(zap.payment_hash)
    assert session is not None and session.quote.price_msat_per_kwh == 123_000
    assert await listener.store.rejects() == []


async def test_forged_receipts_are_refused_and_recorded(
    zapper: Zapper, charger: ChargerConfig, db: Database, backend: ClnBackend, relay: LocalRelay
) -> None:
    recorder = Recorder()
    pool = bot_pool([relay.url])
    listener = listener_for(charger, pool, db, backend, recorder)
    pubkey = charger.keys.public_key_hex
    forged = {
        "untrusted-signer": await zapper.zap(pubkey, AMOUNT, signer=generate_keys()),
        "unpaid": await zapper.zap(pubkey, AMOUNT, pay=False),
        "amount-mismatch": await zapper.zap(pubkey, AMOUNT, invoice_msat=AMOUNT - 1000),
        "description-hash": await zapper.zap(pubkey, AMOUNT, description="something else"),
    }
    good = await zapper.zap(pubkey, AMOUNT)
    async with listening(listener, pool):
        for zap in forged.values():
            await zapper.publish(zap.receipt, [relay.url])
        await zapper.publish(good.receipt, [relay.url])
        await wait_until(lambda: _done(db, 1), what="the good receipt's session")

        async def all_refused() -> bool:
            return len(await listener.store.rejects()) == len(forged)

        await wait_until(all_refused, what="four refusals")
    assert [p[0] for p in recorder.paid] == [good.payment_hash]
    rejects = {r.code: r for r in await listener.store.rejects("cp-001")}
    assert set(rejects) == set(forged)
    for code, zap in forged.items():
        assert rejects[code].reason
        assert await SessionRecords(db).by_payment_hash(zap.payment_hash) is None


async def test_a_receipt_for_another_recipient_is_refused(
    zapper: Zapper, charger: ChargerConfig, db: Database, backend: ClnBackend, relay: LocalRelay
) -> None:
    listener = listener_for(charger, bot_pool([relay.url]), db, backend, Recorder())
    await listener.start()
    stranger = generate_keys().public_key_hex
    zap = await zapper.zap(stranger, AMOUNT)
    assert await listener.handle(zap.receipt) == "wrong-recipient"
    (reject,) = await listener.store.rejects()
    assert (reject.code, reject.charger_id) == ("wrong-recipient", None)


async def test_replays_start_nothing(
    zapper: Zapper, charger: ChargerConfig, db: Database, backend: ClnBackend, relay: LocalRelay
) -> None:
    recorder = Recorder()
    listener = listener_for(charger, bot_pool([relay.url]), db, backend, recorder)
    await listener.start()
    pubkey = charger.keys.public_key_hex
    zap = await zapper.zap(pubkey, AMOUNT)
    assert await listener.handle(zap.receipt) == "session"
    assert await listener.handle(zap.receipt) == "duplicate"
    # The same payment under a new receipt (re-signed later) is a replay, recorded.
    invoice = await backend.lookup_invoice(zap.payment_hash)
    assert invoice is not None
    again = await _resigned(zapper, zap.receipt, int(time.time()) + 5)
    assert await listener.handle(again) == "replayed"
    assert len(recorder.paid) == 1
    # A receipt for a payment made long ago starts no session, even though it was paid.
    later = listener_for(
        charger,
        bot_pool([relay.url]),
        db,
        backend,
        recorder,
        clock=lambda: time.time() + 2 * 86400,
    )
    await later.start()
    old = await zapper.zap(pubkey, AMOUNT)
    assert await later.handle(old.receipt) == "stale"
    assert len(recorder.paid) == 1
    assert {r.code for r in await listener.store.rejects()} == {"replayed", "stale"}


async def test_two_relays_delivering_one_receipt_start_one_session(
    *,
    zapper: Zapper,
    charger: ChargerConfig,
    db: Database,
    backend: ClnBackend,
    relay: LocalRelay,
    relay2: LocalRelay,
) -> None:
    recorder = Recorder()
    pool = bot_pool([relay.url, relay2.url])
    listener = listener_for(charger, pool, db, backend, recorder)
    async with listening(listener, pool):
        zaps = [await zapper.zap(charger.keys.public_key_hex, AMOUNT) for _ in range(3)]
        for zap in zaps:
            await zapper.publish(zap.receipt, [relay.url, relay2.url])
        await wait_until(lambda: _done(db, 3), what="three sessions")
        await asyncio.sleep(0.3)  # time for any second copy to be handled
    assert sorted(p[0] for p in recorder.paid) == sorted(z.payment_hash for z in zaps)
    rows = await db.fetchall("SELECT payment_hash FROM sessions")
    assert len(rows) == 3
    assert await listener.store.rejects() == []


async def test_receipts_sent_while_down_are_picked_up_once(
    zapper: Zapper, charger: ChargerConfig, db: Database, backend: ClnBackend, relay: LocalRelay
) -> None:
    recorder = Recorder()
    pubkey = charger.keys.public_key_hex
    first = await zapper.zap(pubkey, AMOUNT)
    pool = bot_pool([relay.url])
    async with listening(listener_for(charger, pool, db, backend, recorder), pool):
        await zapper.publish(first.receipt, [relay.url])
        await wait_until(lambda: _done(db, 1), what="the first session")
    # The bot is down: two more zaps are paid and their receipts published.
    missed = [await zapper.zap(pubkey, AMOUNT) for _ in range(2)]
    for zap in missed:
        await zapper.publish(zap.receipt, [relay.url])
    pool = bot_pool([relay.url])
    restarted = listener_for(charger, pool, db, backend, recorder)
    async with listening(restarted, pool):
        await wait_until(lambda: _done(db, 3), what="the missed sessions")
        await asyncio.sleep(0.3)  # the first receipt is on the relay too: it must stay done
    paid = [p[0] for p in recorder.paid]
    assert paid[0] == first.payment_hash
    assert sorted(paid[1:]) == sorted(z.payment_hash for z in missed)


async def test_a_claim_cut_short_by_a_crash_is_finished_at_start(
    zapper: Zapper, charger: ChargerConfig, db: Database, backend: ClnBackend, relay: LocalRelay
) -> None:
    recorder = Recorder()
    listener = listener_for(charger, bot_pool([relay.url]), db, backend, recorder)
    claim = Claim(
        payment_hash="ab" * 32,
        receipt_id="cd" * 32,
        charger_id="cp-001",
        connector_id=1,
        zapper_pubkey=zapper.keys.public_key_hex,
        payer_pubkey="ef" * 32,
        payer_relays=(relay.url,),
        amount_msat=AMOUNT,
        paid_at=int(time.time()),
        receipt_created_at=int(time.time()),
    )
    assert await listener.store.claim(claim, time.time())
    await listener.start()
    assert recorder.paid == [(claim.payment_hash, AMOUNT, claim.paid_at)]
    session = await SessionRecords(db).by_payment_hash(claim.payment_hash)
    assert session is not None and session.payer_pubkey == "ef" * 32
    await listener.start()  # done rows are not finished twice
    assert len(recorder.paid) == 1


async def test_an_unreachable_node_claims_nothing(
    zapper: Zapper, charger: ChargerConfig, db: Database, relay: LocalRelay, tmp_path: Path
) -> None:
    fast = Backoff(first_s=0.01, cap_s=0.02, give_up_after_s=0.1)
    gone = ClnBackend(tmp_path / "nowhere" / "lightning-rpc", backoff=fast)
    listener = listener_for(charger, bot_pool([relay.url]), db, gone, Recorder())
    await listener.start()
    zap = await zapper.zap(charger.keys.public_key_hex, AMOUNT)
    assert await listener.handle(zap.receipt) == "node-unavailable"
    assert await listener.store.get(zap.payment_hash) is None
    assert await listener.store.rejects() == []


async def _done(db: Database, count: int) -> bool:
    row = await db.fetchone("SELECT COUNT(*) AS n FROM zap_receipts WHERE state = 'done'")
    return row is not None and row["n"] >= count


async def _resigned(zapper: Zapper, receipt: str, created_at: int) -> str:
    import json

    import nostr_sdk

    data = json.loads(receipt)
    builder = nostr_sdk.EventBuilder(nostr_sdk.Kind(9735), "").tags(
        [nostr_sdk.Tag.parse(tag) for tag in data["tags"]]
    )
    event = builder.custom_created_at(nostr_sdk.Timestamp.from_secs(created_at))
    return str(event.finalize(sdk_keys(zapper.keys)).as_json())
