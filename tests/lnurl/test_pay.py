"""LNURL-pay and zaps over real HTTP on 127.0.0.1, with the simulated node issuing invoices."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import json
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import lnurl
import pytest

from bot.lnurl.codec import lightning_address_url
from bot.nostr.zaps import build_zap_request
from bot.ports.bolt11 import decode_invoice
from bot.sessions.machine import Event, State
from bot.sessions.records import SessionRecords
from tests.lnurl.support import Site, move_session, pay_site, set_charger
from tests.nostr.events import TestKey

DRIVER = TestKey("02" * 32)
STRANGER = TestKey("03" * 32)
AMOUNT = 5_000_000
RELAY = "ws://127.0.0.1:7777"
_SERIAL = itertools.count()


@pytest.fixture(params=["cln", "nwc"])
async def site(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Site]:
    # The same pay-side tests on both backends: invoices come from the same node.
    async with pay_site(tmp_path, ln_kind=request.param) as running:
        yield running


def charger_pubkey(site: Site, charger_id: str = "cp-001") -> str:
    charger = site.config.charger(charger_id)
    assert charger is not None
    return charger.keys.public_key_hex


def zap_tags(site: Site, **replace: list[list[str]] | None) -> list[list[str]]:
    tags = {
        "relays": [["relays", RELAY, "wss://relay.example.org"]],
        "amount": [["amount", str(AMOUNT)]],
        "p": [["p", charger_pubkey(site)]],
    }
    for name, value in replace.items():
        tags[name] = value or []
    return [tag for group in tags.values() for tag in group]


def zap_request(
    site: Site,
    tags: list[list[str]] | None = None,
    *,
    kind: int = 9734,
    created_at: int | None = None,
    signer: TestKey = DRIVER,
) -> str:
    return signer.event_json(
        kind=kind,
        tags=zap_tags(site) if tags is None else tags,
        content=f"Zap {next(_SERIAL)}",  # each request its own id: ids are single-use
        created_at=int(time.time()) - 5 if created_at is None else created_at,
    )


async def session_count(site: Site) -> int:
    row = await site.db.fetchone("SELECT COUNT(*) AS n FROM sessions")
    assert row is not None
    return int(row["n"])


# --- the pay request (LUD-06, LUD-16) and NIP-05 ------------------------------------------


async def test_the_lightning_address_serves_the_pay_request(site: Site) -> None:
    url = lightning_address_url(f"cp-001@{site.domain}")
    assert url == f"{site.base}/.well-known/lnurlp/cp-001"
    answer = await site.get(url)
    assert answer["tag"] == "payRequest"
    assert answer["callback"] == f"{site.base}/lnurlp/cp-001/callback"
    assert (answer["minSendable"], answer["maxSendable"]) == (1_000_000, 200_000_000)
    assert answer["allowsNostr"] is True
    assert answer["nostrPubkey"] == charger_pubkey(site)
    metadata = dict(json.loads(answer["metadata"]))
    assert metadata["text/identifier"] == f"cp-001@{site.domain}"
    assert metadata["text/plain"] == "Charger cp-001 · 250 sat/kWh"
    assert base64.b64decode(metadata["image/png;base64"]).startswith(b"\x89PNG\r\n\x1a\n")
    assert isinstance(lnurl.LnurlResponse.from_dict(answer), lnurl.LnurlPayResponse)


async def test_unknown_names_and_connectors_are_refused(site: Site) -> None:
    for name in ("cp-404", "cp-001.7", "CP-001", "cp-001.0"):
        answer = await site.get(f"/.well-known/lnurlp/{name}")
        assert answer["status"] == "ERROR" and "unknown payment name" in answer["reason"]


async def test_nip05_names_the_charger_with_our_relays(site: Site) -> None:
    answer = await site.get("/.well-known/nostr.json", name="cp-001")
    pubkey = charger_pubkey(site)
    assert answer == {"names": {"cp-001": pubkey}, "relays": {pubkey: [RELAY]}}
    assert (await site.get("/.well-known/nostr.json", name="nobody"))["names"] == {}


# --- plain LNURL payments (no nostr) -------------------------------------------------------


async def test_an_lnurl_payment_without_nostr_quotes_a_session(site: Site) -> None:
    offer = await site.get("/.well-known/lnurlp/cp-001")
    answer = await site.get(offer["callback"], amount=str(AMOUNT), comment="hi")
    invoice = decode_invoice(answer["pr"])
    assert invoice.amount_msat == AMOUNT and invoice.currency == "bcrt"
    assert invoice.description_hash == hashlib.sha256(offer["metadata"].encode()).hexdigest()
    session = await SessionRecords(site.db).by_payment_hash(invoice.payment_hash)
    assert session is not None
    assert (session.state, session.payer_pubkey, session.connector_id) == (State.QUOTED, None, 1)
    assert session.quote.price_msat_per_kwh == 250_000
    assert answer["successAction"] == {
        "tag": "url",
        "description": "Your charging session",
        "url": f"{site.base}/s/{session.token}",
    }
    assert answer["verify"] == f"{site.base}/lnurlp/verify/{invoice.payment_hash}"
    stored = await site.checkout.invoices.invoice(invoice.payment_hash)
    assert stored is not None and stored.session_id == session.id
    assert (stored.zap_request, stored.description) == (None, offer["metadata"])


async def test_verify_says_settled_only_once_our_node_reported_it(site: Site) -> None:
    answer = await site.get("/lnurlp/cp-001/callback", amount=str(AMOUNT))
    verify = await site.get(answer["verify"])
    assert verify == {"status": "OK", "settled": False, "preimage": None, "pr": answer["pr"]}
    await site.wallet.pay_invoice(answer["pr"])
    outbox = _NoReceipts()
    watcher = await site.watch_payments(outbox)
    task = asyncio.create_task(watcher.run())
    try:
        await site.sessions.wait_for(1)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    verify = await site.get(answer["verify"])
    assert verify["settled"] is True
    preimage = verify["preimage"]
    payment_hash = decode_invoice(answer["pr"]).payment_hash
    assert hashlib.sha256(bytes.fromhex(preimage)).hexdigest() == payment_hash
    assert site.sessions.paid[0][:2] == (payment_hash, AMOUNT)
    assert await site.get(f"/lnurlp/verify/{'ab' * 32}") == {
        "status": "ERROR",
        "reason": "Not found",
    }


class _NoReceipts:
    async def enqueue(self, event_json: str, relays: Any = ()) -> int:
        raise AssertionError("a plain LNURL payment has no zap receipt")


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ({}, "amount is missing"),
        ({"amount": "999999"}, "below the minimum of 1000000 msat"),
        ({"amount": "200000001"}, "above the maximum of 200000000 msat"),
        ({"amount": "5e6"}, "whole number"),
        ({"amount": str(AMOUNT), "comment": "x" * 141}, "longer than 140"),
    ],
)
async def test_amounts_and_comments_out_of_bounds_are_refused(
    site: Site, query: dict[str, str], reason: str
) -> None:
    answer = await site.get("/lnurlp/cp-001/callback", **query)
    assert answer["status"] == "ERROR" and reason in answer["reason"]
    assert await session_count(site) == 0


async def test_a_parameter_given_twice_is_refused(site: Site) -> None:
    url = f"{site.base}/lnurlp/cp-001/callback?amount={AMOUNT}&amount=200000000"
    answer = await site.get(url)
    assert answer["status"] == "ERROR" and "more than once" in answer["reason"]


# --- zaps: appendix D, through HTTP --------------------------------------------------------


async def test_a_zap_commits_to_the_exact_request_and_keeps_the_payer(site: Site) -> None:
    raw = build_zap_request(
        DRIVER.keys,
        recipient_pubkey=charger_pubkey(site),
        amount_msat=AMOUNT,
        relays=[RELAY, "wss://10.0.0.1", "wss://relay.example.org", "ws://nas:7777"],
        comment="⚡ for the car",
        lnurl=None,
        now=int(time.time()),
    )
    answer = await site.get("/lnurlp/cp-001/callback", amount=str(AMOUNT), nostr=raw)
    invoice = decode_invoice(answer["pr"])
    assert invoice.description_hash == hashlib.sha256(raw.encode("utf-8")).hexdigest()
    session = await SessionRecords(site.db).by_payment_hash(invoice.payment_hash)
    assert session is not None and session.payer_pubkey == DRIVER.pubkey
    # Untrusted relays: private and single-label hosts dropped, loopback kept (our own
    # relay is on loopback in this deployment).
    assert session.payer_relays == (RELAY, "wss://relay.example.org")
    stored = await site.checkout.invoices.invoice(invoice.payment_hash)
    assert stored is not None and stored.zap_request == raw and stored.description == raw


def _resign_changed(site: Site) -> str:
    event = json.loads(zap_request(site))
    event["content"] = "changed after signing"
    return json.dumps(event)


def _foreign_signature(site: Site) -> str:
    event = json.loads(zap_request(site))
    event["sig"] = json.loads(zap_request(site, signer=STRANGER))["sig"]
    return json.dumps(event)


RULES: list[tuple[str, Callable[[Site], str], str]] = [
    ("rule 1: id", _resign_changed, "id does not match"),
    ("rule 1: signature", _foreign_signature, "signature is invalid"),
    ("kind 9734", lambda s: zap_request(s, kind=1), "must be kind 9734"),
    ("rule 2: tags", lambda s: zap_request(s, []), "has no tags"),
    ("rule 3: no p", lambda s: zap_request(s, zap_tags(s, p=None)), "exactly one p tag"),
    (
        "rule 3: two p",
        lambda s: zap_request(s, zap_tags(s, p=[["p", charger_pubkey(s)], ["p", DRIVER.pubkey]])),
        "exactly one p tag",
    ),
    (
        "rule 3: other recipient",
        lambda s: zap_request(s, zap_tags(s, p=[["p", STRANGER.pubkey]])),
        "not this charger",
    ),
    (
        "rule 4: two e",
        lambda s: zap_request(s, [*zap_tags(s), ["e", "ab" * 32], ["e", "cd" * 32]]),
        "at most one e tag",
    ),
    ("rule 5: relays", lambda s: zap_request(s, zap_tags(s, relays=None)), "relays tag"),
    (
        "rule 6: amount",
        lambda s: zap_request(s, zap_tags(s, amount=[["amount", str(AMOUNT + 1000)]])),
        "differs from amount",
    ),
    (
        "rule 7: a",
        lambda s: zap_request(s, [*zap_tags(s), ["a", "garbage"]]),
        "a tag is not an event coordinate",
    ),
    (
        "rule 8: P",
        lambda s: zap_request(s, [*zap_tags(s), ["P", STRANGER.pubkey]]),
        "zap receipt's signer",
    ),
    ("too old", lambda s: zap_request(s, created_at=int(time.time()) - 3600), "too old"),
    ("in the future", lambda s: zap_request(s, created_at=int(time.time()) + 3600), "future"),
    ("not JSON", lambda s: "{not json", "not JSON"),
]


@pytest.mark.parametrize(("rule", "make", "reason"), RULES, ids=[r[0] for r in RULES])
async def test_each_appendix_d_rule_is_refused_over_http(
    site: Site, rule: str, make: Callable[[Site], str], reason: str
) -> None:
    del rule
    answer = await site.get("/lnurlp/cp-001/callback", amount=str(AMOUNT), nostr=make(site))
    assert answer["status"] == "ERROR", answer
    assert reason in answer["reason"]
    assert await session_count(site) == 0


async def test_a_replayed_zap_request_is_refused(site: Site) -> None:
    raw = zap_request(site)
    first = await site.get("/lnurlp/cp-001/callback", amount=str(AMOUNT), nostr=raw)
    assert "pr" in first
    again = await site.get("/lnurlp/cp-001/callback", amount=str(AMOUNT), nostr=raw)
    assert again == {
        "status": "ERROR",
        "reason": "this zap request was used before; sign a new one",
    }
    assert await session_count(site) == 1


# --- can the charger start now? ------------------------------------------------------------


async def test_an_offline_charger_is_refused(site: Site) -> None:
    await set_charger(site.db, "cp-001", online=False)
    answer = await site.get("/lnurlp/cp-001/callback", amount=str(AMOUNT))
    assert answer == {
        "status": "ERROR",
        "reason": "the charger is offline; try again when it is back",
    }


@pytest.mark.parametrize("status", ["Faulted", "Unavailable", "Charging", "Finishing"])
async def test_a_connector_that_is_not_available_is_refused(site: Site, status: str) -> None:
    await set_charger(site.db, "cp-001", statuses={1: status})
    answer = await site.get("/lnurlp/cp-001/callback", amount=str(AMOUNT))
    assert answer == {"status": "ERROR", "reason": f"connector 1 is {status}, not Available"}


async def test_a_connector_with_a_car_plugged_in_first_is_accepted(site: Site) -> None:
    await set_charger(site.db, "cp-001", statuses={1: "Preparing"})
    assert "pr" in await site.get("/lnurlp/cp-001/callback", amount=str(AMOUNT))


async def busy_with(site: Site, payer: str | None, *steps: Event) -> str:
    """Quote a session by ``payer`` over HTTP and move it along ``steps``."""
    sessions = SessionRecords(site.db)
    if payer is None:
        answer = await site.get("/lnurlp/cp-001/callback", amount=str(AMOUNT))
    else:
        answer = await site.get(
            "/lnurlp/cp-001/callback", amount=str(AMOUNT), nostr=zap_request(site)
        )
    session = await sessions.by_payment_hash(decode_invoice(answer["pr"]).payment_hash)
    assert session is not None
    moved = await move_session(sessions, session, *steps)
    return moved.id


async def test_a_charger_busy_with_another_session_is_refused(site: Site) -> None:
    await busy_with(site, None, Event.INVOICE_PAID, Event.START_REQUESTED)
    answer = await site.get(
        "/lnurlp/cp-001/callback",
        amount=str(AMOUNT),
        nostr=zap_request(site, signer=STRANGER, tags=None),
    )
    assert answer == {"status": "ERROR", "reason": "connector 1 is in use by another session"}


async def test_unpaid_quotes_do_not_lock_the_charger(site: Site) -> None:
    await busy_with(site, None)
    assert "pr" in await site.get("/lnurlp/cp-001/callback", amount=str(AMOUNT))
    assert await session_count(site) == 2


async def test_a_zap_by_the_payer_of_the_running_session_tops_it_up(site: Site) -> None:
    running = await busy_with(
        site, DRIVER.pubkey, Event.INVOICE_PAID, Event.START_REQUESTED, Event.TRANSACTION_STARTED
    )
    await set_charger(site.db, "cp-001", statuses={1: "Charging"})
    answer = await site.get("/lnurlp/cp-001/callback", amount=str(AMOUNT), nostr=zap_request(site))
    payment_hash = decode_invoice(answer["pr"]).payment_hash
    stored = await site.checkout.invoices.invoice(payment_hash)
    assert stored is not None and stored.session_id == running
    session = await SessionRecords(site.db).load(running)
    assert answer["successAction"]["url"] == f"{site.base}/s/{session.token}"
    assert await session_count(site) == 1  # no new session: the money joins the running one
    # Even offline for a moment, the running session may still take money.
    await set_charger(site.db, "cp-001", online=False, statuses={1: "Charging"})
    assert "pr" in await site.get(
        "/lnurlp/cp-001/callback", amount=str(AMOUNT), nostr=zap_request(site)
    )


async def test_a_stopping_session_takes_no_top_up(site: Site) -> None:
    await busy_with(
        site,
        DRIVER.pubkey,
        Event.INVOICE_PAID,
        Event.START_REQUESTED,
        Event.TRANSACTION_STARTED,
        Event.DRIVER_STOP,
    )
    answer = await site.get("/lnurlp/cp-001/callback", amount=str(AMOUNT), nostr=zap_request(site))
    assert answer["status"] == "ERROR" and "stopping" in answer["reason"]


async def test_connectors_are_chosen_free_first_or_by_name(tmp_path: Path) -> None:
    async with pay_site(tmp_path, connectors=2) as site:
        await set_charger(site.db, "cp-001", statuses={1: "Faulted", 2: "Available"})
        sessions = SessionRecords(site.db)
        answer = await site.get("/lnurlp/cp-001/callback", amount=str(AMOUNT))
        session = await sessions.by_payment_hash(decode_invoice(answer["pr"]).payment_hash)
        assert session is not None and session.connector_id == 2
        offer = await site.get("/.well-known/lnurlp/cp-001.2")
        assert offer["callback"] == f"{site.base}/lnurlp/cp-001.2/callback"
        refused = await site.get("/lnurlp/cp-001.1/callback", amount=str(AMOUNT))
        assert refused["reason"] == "connector 1 is Faulted, not Available"
        await set_charger(site.db, "cp-001", statuses={1: "Faulted", 2: "Unavailable"})
        refused = await site.get("/lnurlp/cp-001/callback", amount=str(AMOUNT))
        assert refused["reason"] == (
            "no connector is free: connector 1 is Faulted, not Available; "
            "connector 2 is Unavailable, not Available"
        )
