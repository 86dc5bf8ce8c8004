"""LNURL-pay without I/O: offers, metadata, callback rules and every answer's JSON."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import lnurl
import pytest

from bot.config import ChargerConfig, Connector, Tariff
from bot.errors import LnurlError, ZapInvalid
from bot.lnurl.protocol import (
    PayOffer,
    Urls,
    charger_pay_offer,
    error_response,
    nip05_document,
    ok_response,
    parse_pay_callback,
    parse_pay_name,
    pay_invoice_response,
    pay_metadata,
    pay_name,
    query_values,
    verify_response,
)
from bot.ports.bolt11 import decode_invoice
from tests.lnurl.invoices import issue_invoice
from tests.nostr.events import TestKey

CHARGER_KEY = TestKey("01" * 32)
DRIVER = TestKey("02" * 32)
NOW = 1_700_000_000
URLS = Urls("https://charge.example.org")
DOMAIN = "charge.example.org"
TARIFF = Tariff(
    kind="static",
    price_msat_per_kwh=250_000,
    session_fee_msat=0,
    min_sendable_msat=1_000_000,
    max_sendable_msat=200_000_000,
)
CHARGER = ChargerConfig(
    id="cp-001",
    name="Harbour charger 1",
    about="22 kW Type 2, pay with a zap",
    picture="",
    lat=48.1372,
    lon=11.5756,
    address="",
    ocpp_password="change-me-please",
    connectors=(Connector(1, "Type2", 22000), Connector(2, "CCS2", 50000)),
    tariff=TARIFF,
    key_file=Path("cp-001.key"),
    keys=CHARGER_KEY.keys,
)


def offer(**kwargs: object) -> PayOffer:
    return charger_pay_offer(CHARGER, URLS, DOMAIN, **kwargs)  # type: ignore[arg-type]


# --- the pay request (LUD-06, LUD-16, LUD-12, NIP-57 appendix C) -------------------------


def test_the_pay_request_has_every_field() -> None:
    answer = offer().as_json()
    assert answer == {
        "tag": "payRequest",
        "callback": "https://charge.example.org/lnurlp/cp-001/callback",
        "minSendable": 1_000_000,
        "maxSendable": 200_000_000,
        "metadata": answer["metadata"],
        "commentAllowed": 140,
        "allowsNostr": True,
        "nostrPubkey": CHARGER_KEY.pubkey,
    }
    parsed = lnurl.LnurlPayResponse(**answer)  # the lnurl package's own model accepts it
    assert parsed.allowsNostr is True
    assert parsed.nostrPubkey == CHARGER_KEY.pubkey


def test_the_metadata_names_the_charger_its_price_and_its_address() -> None:
    metadata = offer().metadata
    assert json.loads(metadata) == [
        ["text/plain", "Harbour charger 1 · 250 sat/kWh"],
        ["text/long-desc", "22 kW Type 2, pay with a zap"],
        ["text/identifier", "cp-001@charge.example.org"],
    ]
    assert offer().metadata == metadata  # the same string every time: invoices hash it
    assert lnurl.LnurlPayMetadata(metadata).text == "Harbour charger 1 · 250 sat/kWh"


def test_a_connector_has_its_own_name_and_callback() -> None:
    connector = offer(connector_id=2)
    assert connector.callback == "https://charge.example.org/lnurlp/cp-001.2/callback"
    assert json.loads(connector.metadata)[0][1].startswith("Harbour charger 1, connector 2 ·")
    assert ["text/identifier", "cp-001.2@charge.example.org"] in json.loads(connector.metadata)


def test_prices_with_fractions_and_a_session_fee() -> None:
    tariff = replace(TARIFF, price_msat_per_kwh=210_500, session_fee_msat=50_000)
    metadata = charger_pay_offer(replace(CHARGER, tariff=tariff), URLS, DOMAIN).metadata
    assert json.loads(metadata)[0][1] == ("Harbour charger 1 · 210.5 sat/kWh + 50 sat per session")


def test_an_image_goes_into_the_metadata_within_the_lud06_limit() -> None:
    with_image = offer(image_png_base64="iVBORw0KGgo=").metadata
    assert ["image/png;base64", "iVBORw0KGgo="] in json.loads(with_image)
    assert lnurl.LnurlPayMetadata(with_image).images == [("image/png;base64", "iVBORw0KGgo=")]
    with pytest.raises(ValueError, match="136536"):
        pay_metadata("x", image_png_base64="A" * 136_537)


def test_an_offer_without_a_nostr_key_does_not_offer_zaps() -> None:
    answer = replace(offer(), nostr_pubkey=None).as_json()
    assert "allowsNostr" not in answer
    assert "nostrPubkey" not in answer


def test_a_plain_payment_invoice_commits_to_the_metadata() -> None:
    # LUD-06 (before PR #234, still checked by wallets): h = sha256(utf8(metadata)).
    pay_offer = offer()
    callback = parse_pay_callback({"amount": "5000000"}, pay_offer, now=NOW)
    description = callback.invoice_description(pay_offer)
    assert description == pay_offer.metadata
    bolt11, _ = issue_invoice(
        callback.amount_msat, description_hash=hashlib.sha256(description.encode()).hexdigest()
    )
    invoice = decode_invoice(bolt11)
    assert invoice.description_hash == lnurl.LnurlPayMetadata(pay_offer.metadata).h
    assert invoice.amount_msat == 5_000_000


# --- the callback (LUD-06 step 5, LUD-12, NIP-57 appendix B/D) ---------------------------


def zap_json(amount: int = 5_000_000, created_at: int = NOW) -> str:
    tags = [["relays", "wss://relay.example.org"], ["amount", str(amount)]]
    tags += [["p", CHARGER_KEY.pubkey]]
    return DRIVER.event_json(kind=9734, tags=tags, content="⚡", created_at=created_at)


def test_a_zap_callback_returns_the_request_to_hash() -> None:
    raw = zap_json()
    pay_offer = offer()
    callback = parse_pay_callback({"amount": "5000000", "nostr": raw}, pay_offer, now=NOW)
    assert callback.zap is not None
    assert callback.zap.sender_pubkey == DRIVER.pubkey
    assert callback.invoice_description(pay_offer) == raw


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({}, "amount is missing"),
        ({"amount": ""}, "whole number"),
        ({"amount": "1.5"}, "whole number"),
        ({"amount": "1e6"}, "whole number"),
        ({"amount": "-5000000"}, "whole number"),
        ({"amount": " 5000000"}, "whole number"),
        ({"amount": "5000000" * 4}, "whole number"),
        ({"amount": "999999"}, "below the minimum of 1000000 msat"),
        ({"amount": "200000001"}, "above the maximum of 200000000 msat"),
        ({"amount": "5000000", "comment": "x" * 141}, "longer than 140"),
    ],
)
def test_callback_refusals(params: dict[str, str], reason: str) -> None:
    with pytest.raises(LnurlError, match=reason):
        parse_pay_callback(params, offer(), now=NOW)


@pytest.mark.parametrize("amount", ["1000000", "200000000"])
def test_the_bounds_themselves_are_accepted(amount: str) -> None:
    assert parse_pay_callback({"amount": amount}, offer(), now=NOW).amount_msat == int(amount)


def test_a_comment_up_to_comment_allowed_is_kept() -> None:
    callback = parse_pay_callback({"amount": "1000000", "comment": "é" * 140}, offer(), now=NOW)
    assert callback.comment == "é" * 140
    with pytest.raises(LnurlError, match="longer than 0"):
        parse_pay_callback({"amount": "1000000", "comment": "x"}, offer(comment_allowed=0), now=NOW)


def test_a_zap_whose_amount_differs_from_the_query_is_refused() -> None:
    with pytest.raises(ZapInvalid) as info:
        parse_pay_callback({"amount": "6000000", "nostr": zap_json(5_000_000)}, offer(), now=NOW)
    assert info.value.code == "amount-mismatch"


def test_a_stale_zap_request_is_refused() -> None:
    with pytest.raises(ZapInvalid, match="too old"):
        parse_pay_callback(
            {"amount": "5000000", "nostr": zap_json(created_at=NOW - 601)}, offer(), now=NOW
        )


def test_a_zap_to_an_endpoint_without_zaps_is_refused() -> None:
    no_zaps = replace(offer(), nostr_pubkey=None)
    with pytest.raises(LnurlError, match="does not accept zaps"):
        parse_pay_callback({"amount": "5000000", "nostr": zap_json()}, no_zaps, now=NOW)


def test_repeated_query_parameters_are_refused() -> None:
    assert query_values([("amount", "1"), ("comment", "x")]) == {"amount": "1", "comment": "x"}
    with pytest.raises(LnurlError, match="'amount' is given more than once"):
        query_values([("amount", "1000000"), ("amount", "200000000")])


# --- answers ---------------------------------------------------------------------------


def test_the_invoice_answer_has_a_success_url_and_verify() -> None:
    bolt11, _ = issue_invoice(5_000_000, description_hash="ab" * 32)
    answer = pay_invoice_response(
        bolt11,
        success_url=URLS.session_page("tok-42"),
        success_text="Your charging session",
        verify_url=URLS.verify("cd" * 32),
    )
    assert answer == {
        "pr": bolt11,
        "routes": [],
        "successAction": {
            "tag": "url",
            "description": "Your charging session",
            "url": "https://charge.example.org/s/tok-42",
        },
        "verify": f"https://charge.example.org/lnurlp/verify/{'cd' * 32}",
    }
    parsed = lnurl.LnurlResponse.from_dict(dict(answer))
    assert isinstance(parsed, lnurl.LnurlPayActionResponse)
    assert pay_invoice_response(bolt11) == {"pr": bolt11, "routes": []}


def test_lud09_text_is_at_most_144_characters() -> None:
    with pytest.raises(ValueError, match="144"):
        pay_invoice_response("lnbc1", success_url="https://x.example/", success_text="x" * 145)


def test_verify_answers_hide_the_preimage_until_settled() -> None:
    assert verify_response(settled=True, preimage="ab" * 32, pr="lnbc1") == {
        "status": "OK",
        "settled": True,
        "preimage": "ab" * 32,
        "pr": "lnbc1",
    }
    assert verify_response(settled=False, preimage="ab" * 32, pr="lnbc1")["preimage"] is None


def test_status_answers() -> None:
    assert error_response("amount is missing") == {"status": "ERROR", "reason": "amount is missing"}
    assert ok_response() == {"status": "OK"}
    assert isinstance(lnurl.LnurlResponse.from_dict(error_response("x")), lnurl.LnurlErrorResponse)


def test_nip05_document_carries_relays() -> None:
    relays = ["wss://relay.example.org"]
    assert nip05_document({"cp-001": CHARGER_KEY.pubkey}, relays) == {
        "names": {"cp-001": CHARGER_KEY.pubkey},
        "relays": {CHARGER_KEY.pubkey: relays},
    }
    assert nip05_document({}, relays) == {"names": {}, "relays": {}}


def test_urls() -> None:
    assert URLS.lnurlp("cp-001") == "https://charge.example.org/.well-known/lnurlp/cp-001"
    assert URLS.nip05("cp-001") == "https://charge.example.org/.well-known/nostr.json?name=cp-001"
    assert URLS.withdraw("ab") == "https://charge.example.org/lnurlw/ab"
    assert URLS.withdraw_callback() == "https://charge.example.org/lnurlw/callback"


@pytest.mark.parametrize(("charger", "connector"), [("cp-001", None), ("cp-001", 2), ("a", 9999)])
def test_pay_names_round_trip(charger: str, connector: int | None) -> None:
    assert parse_pay_name(pay_name(charger, connector)) == (charger, connector)


@pytest.mark.parametrize("name", ["", "CP-001", "cp-001.", "cp-001.0", "cp-001.x", "-cp", "a.1.2"])
def test_unknown_pay_names_are_refused(name: str) -> None:
    with pytest.raises(LnurlError, match="unknown payment name"):
        parse_pay_name(name)
