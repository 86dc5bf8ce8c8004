"""Zap receipts as they arrive on a real relay (LocalRelay), and why relays never mean "paid"."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import nostr_sdk
import pytest

from bot.nostr.relay import local_relay
from bot.nostr.zaps import (
    build_zap_receipt,
    build_zap_request,
    load_zap_request,
    validate_zap_receipt,
)
from bot.ports.bolt11 import decode_invoice
from bot.sessions.machine import State
from bot.sessions.records import SessionRecords
from tests.helpers import scaled
from tests.lnurl.support import Site, pay_site, receipts_flowing
from tests.nostr.events import TestKey, schnorr_valid

DRIVER = TestKey("02" * 32)
STRANGER = TestKey("03" * 32)
AMOUNT = 21_000_000


@pytest.fixture
async def relay() -> AsyncIterator[str]:
    async with local_relay() as running:
        yield running


@pytest.fixture
async def site(tmp_path: Path, relay: str) -> AsyncIterator[Site]:
    async with pay_site(tmp_path, relay_url=relay) as running:
        yield running


async def receipts_on(relay: str, recipient: str, wanted: int = 1) -> list[dict[str, Any]]:
    """What a nostr client reads from the relay: kind 9735 for ``recipient``."""
    client = nostr_sdk.ClientBuilder().build()
    await client.add_relay(nostr_sdk.RelayUrl.parse(relay))
    await client.connect(timedelta(seconds=scaled(3)))
    query = (
        nostr_sdk.Filter().kind(nostr_sdk.Kind(9735)).pubkey(nostr_sdk.PublicKey.parse(recipient))
    )
    try:
        deadline = time.monotonic() + scaled(10)
        while True:
            events = await client.fetch_events(
                nostr_sdk.ReqTarget.auto([query]), timedelta(seconds=scaled(2))
            )
            found = [json.loads(e.as_json()) for e in events]
            if len(found) >= wanted or time.monotonic() > deadline:
                return found
            await asyncio.sleep(0.05)
    finally:
        await client.shutdown()


async def test_the_receipt_on_the_relay_is_exactly_nip57(site: Site, relay: str) -> None:
    charger = site.config.chargers[0]
    pubkey = charger.keys.public_key_hex
    raw = build_zap_request(
        DRIVER.keys,
        recipient_pubkey=pubkey,
        amount_msat=AMOUNT,
        relays=[relay],
        comment="⚡ charge!",
        lnurl=None,
        event_id="ee" * 32,
        now=int(time.time()),
    )
    answer = await site.get("/lnurlp/cp-001/callback", amount=str(AMOUNT), nostr=raw)
    async with receipts_flowing(site):
        await site.wallet.pay_invoice(answer["pr"])
        await site.sessions.wait_for(1)
        [event] = await receipts_on(relay, pubkey)
    invoice = await site.backend.lookup_invoice(decode_invoice(answer["pr"]).payment_hash)
    assert invoice is not None and invoice.preimage is not None
    assert event["kind"] == 9735 and event["pubkey"] == pubkey and event["content"] == ""
    assert event["created_at"] == invoice.paid_at
    assert schnorr_valid(event)  # BIP-340, checked by coincurve, not by nostr_sdk
    assert event["tags"] == [
        ["p", pubkey],
        ["P", DRIVER.pubkey],
        ["e", "ee" * 32],
        ["bolt11", answer["pr"]],
        ["description", raw],
        ["preimage", invoice.preimage],
    ]
    receipt = validate_zap_receipt(
        json.dumps(event),
        trusted_zapper_pubkeys={pubkey},
        expected_recipient=pubkey,
        currency="bcrt",
    )
    assert receipt.amount_msat == AMOUNT
    assert hashlib.sha256(raw.encode()).hexdigest() == receipt.invoice.description_hash
    assert site.sessions.paid == [(invoice.payment_hash, AMOUNT, invoice.paid_at)]


async def test_a_receipt_on_a_relay_is_never_taken_as_payment(site: Site, relay: str) -> None:
    charger = site.config.chargers[0]
    raw = build_zap_request(
        DRIVER.keys,
        recipient_pubkey=charger.keys.public_key_hex,
        amount_msat=AMOUNT,
        relays=[relay],
        comment="",
        lnurl=None,
        now=int(time.time()),
    )
    answer = await site.get("/lnurlp/cp-001/callback", amount=str(AMOUNT), nostr=raw)
    payment_hash = decode_invoice(answer["pr"]).payment_hash
    async with receipts_flowing(site) as outbox:
        # Perfect-looking receipts for the unpaid invoice: one even signed with the
        # charger's own key (a leaked key, a confused zapper). None of it is payment.
        request = load_zap_request(raw, charger_pubkey=charger.keys.public_key_hex)
        for keys in (charger.keys, STRANGER.keys):
            forged = build_zap_receipt(keys, request, answer["pr"], None, int(time.time()))
            await outbox.enqueue(forged, [relay])
        assert len(await receipts_on(relay, charger.keys.public_key_hex, wanted=2)) == 2
        await asyncio.sleep(0.3)  # time for anything that might misread them
    assert site.sessions.paid == []
    session = await SessionRecords(site.db).by_payment_hash(payment_hash)
    assert session is not None and session.state is State.QUOTED
    verify = await site.get(answer["verify"])
    assert verify["settled"] is False
