"""The paid-invoice handler: zap receipt into the outbox first, then the session layer."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.lnurl.checkout import INVOICE_LABEL_PREFIX
from bot.lnurl.payments import ZapPayments
from bot.nostr.zaps import build_zap_request, validate_zap_receipt
from bot.ports.bolt11 import decode_invoice
from bot.ports.lightning import Invoice, InvoiceStatus
from bot.store.lnurl import LnurlStore
from tests.lnurl.support import RecordingOutbox, Site, pay_site
from tests.nostr.events import TestKey, schnorr_valid

DRIVER = TestKey("02" * 32)
AMOUNT = 5_000_000


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    async with pay_site(tmp_path) as running:
        yield running


def handler(site: Site, outbox: RecordingOutbox) -> ZapPayments:
    chargers = {c.id: c for c in site.config.chargers}
    return ZapPayments(chargers, site.db, outbox, site.sessions, allow_loopback=True)


async def paid(site: Site, answer: dict[str, str]) -> Invoice:
    """Pay the callback's invoice as a wallet would; the node's view of it afterwards."""
    await site.wallet.pay_invoice(answer["pr"])
    invoice = await site.backend.lookup_invoice(decode_invoice(answer["pr"]).payment_hash)
    assert invoice is not None and invoice.status is InvoiceStatus.PAID
    return invoice


async def test_a_paid_zap_gets_its_receipt_before_the_session_hears(site: Site) -> None:
    charger = site.config.chargers[0]
    raw = build_zap_request(
        DRIVER.keys,
        recipient_pubkey=charger.keys.public_key_hex,
        amount_msat=AMOUNT,
        relays=["ws://127.0.0.1:7777", "wss://relay.example.org", "wss://192.168.1.2"],
        comment="go",
        lnurl=None,
        event_id="ab" * 32,
        now=int(time.time()),
    )
    answer = await site.get("/lnurlp/cp-001/callback", amount=str(AMOUNT), nostr=raw)
    invoice = await paid(site, answer)
    outbox = RecordingOutbox()

    class Ordered:
        async def session_paid(self, payment_hash: str, amount_msat: int, paid_at: int) -> None:
            assert outbox.events, "the receipt must be queued before the session is told"
            await site.sessions.session_paid(payment_hash, amount_msat, paid_at)

    zaps = ZapPayments({charger.id: charger}, site.db, outbox, Ordered(), allow_loopback=True)
    await zaps.invoice_paid(invoice)
    await zaps.invoice_paid(invoice)  # the watcher redelivers after a crash: same receipt
    assert invoice.paid_at is not None
    assert site.sessions.paid == [(invoice.payment_hash, AMOUNT, invoice.paid_at)] * 2
    [(event_json, relays)] = outbox.events.values()
    assert relays == ("ws://127.0.0.1:7777", "wss://relay.example.org")
    receipt = validate_zap_receipt(
        event_json,
        trusted_zapper_pubkeys={charger.keys.public_key_hex},
        expected_recipient=charger.keys.public_key_hex,
        currency="bcrt",
    )
    event = json.loads(event_json)
    assert schnorr_valid(event)
    assert event["created_at"] == invoice.paid_at
    assert receipt.amount_msat == AMOUNT and receipt.request.raw == raw
    assert receipt.preimage == invoice.preimage
    tags = {tag[0]: tag[1:] for tag in event["tags"]}
    assert tags["P"] == [DRIVER.pubkey] and tags["e"] == ["ab" * 32]
    assert tags["description"] == [raw] and tags["bolt11"] == [answer["pr"]]


async def test_a_plain_lnurl_payment_has_no_receipt(site: Site) -> None:
    invoice = await paid(site, await site.get("/lnurlp/cp-001/callback", amount=str(AMOUNT)))
    outbox = RecordingOutbox()
    await handler(site, outbox).invoice_paid(invoice)
    assert outbox.events == {}
    assert site.sessions.paid == [(invoice.payment_hash, AMOUNT, invoice.paid_at)]


def foreign(label: str) -> Invoice:
    return Invoice(
        label=label,
        bolt11="lnbcrt1...",
        payment_hash="cd" * 32,
        amount_msat=7_000,
        status=InvoiceStatus.PAID,
        expires_at=0,
        pay_index=1,
        paid_at=1_700_000_000,
        amount_received_msat=7_000,
    )


async def test_money_no_session_owns_is_kept_never_dropped(site: Site) -> None:
    outbox = RecordingOutbox()
    zaps = handler(site, outbox)
    await zaps.invoice_paid(foreign("someone-elses-shop:42"))  # a shared node: not ours
    assert await LnurlStore(site.db).unclaimed() == []
    await zaps.invoice_paid(foreign(INVOICE_LABEL_PREFIX + "lost"))
    [kept] = await LnurlStore(site.db).unclaimed()
    assert (kept.payment_hash, kept.amount_msat) == ("cd" * 32, 7_000)
    assert "no invoice row" in kept.reason
    assert site.sessions.paid == [] and outbox.events == {}


async def test_an_invoice_row_without_a_session_is_kept(site: Site) -> None:
    invoice = await site.backend.create_invoice(
        AMOUNT, INVOICE_LABEL_PREFIX + "x", "d", expiry_s=600, description_hash_only=True
    )
    await site.checkout.invoices.add_invoice(invoice, description="d", created_at=time.time())
    await site.wallet.pay_invoice(invoice.bolt11)
    node_view = await site.backend.lookup_invoice(invoice.payment_hash)
    assert node_view is not None
    await handler(site, RecordingOutbox()).invoice_paid(node_view)
    [kept] = await LnurlStore(site.db).unclaimed()
    assert kept.reason == "no session for this invoice" and site.sessions.paid == []
