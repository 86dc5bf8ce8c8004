"""The NIP-57 codec: appendix D (requests), E (receipts we sign) and F (receipts we check)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from bot.errors import LnurlError, ZapInvalid
from bot.nostr.zaps import (
    ZapRequest,
    build_zap_receipt,
    build_zap_request,
    parse_zap_request,
    validate_zap_receipt,
)
from tests.lnurl.invoices import issue_invoice
from tests.nostr.events import TestKey, compute_id, schnorr_valid

CHARGER = TestKey("01" * 32)
DRIVER = TestKey("02" * 32)
STRANGER = TestKey("03" * 32)
NOW = 1_700_000_000
AMOUNT = 21_000
RELAYS = ["wss://relay.example.org", "wss://nos.example.com"]
EVENT_ID = "9ae37aa68f48645127299e9453eb5d908a0cbb6058ff340d528ed4d37c8994fb"
COORDINATE = f"30023:{STRANGER.pubkey}:my-article"


def request_tags(**replace: list[list[str]] | None) -> list[list[str]]:
    """The default zap request tags; ``replace`` swaps (a list) or drops (None) a tag name."""
    tags = {
        "relays": [["relays", *RELAYS]],
        "amount": [["amount", str(AMOUNT)]],
        "lnurl": [["lnurl", "LNURL1DP68GURN8GHJ7"]],
        "p": [["p", CHARGER.pubkey]],
    }
    for name, value in replace.items():
        tags[name] = value or []
    return [tag for group in tags.values() for tag in group]


def signed_request(
    tags: list[list[str]] | None = None,
    *,
    kind: int = 9734,
    content: str = "Zap!",
    created_at: int = NOW - 5,
    signer: TestKey = DRIVER,
) -> str:
    tags = request_tags() if tags is None else tags
    return signer.event_json(kind=kind, tags=tags, content=content, created_at=created_at)


def parse(raw: str, *, amount: int = AMOUNT, now: int = NOW) -> ZapRequest:
    return parse_zap_request(
        raw, amount_msat=amount, charger_pubkey=CHARGER.pubkey, now=now, max_age_s=600
    )


def refusal(raw: str, **kwargs: Any) -> ZapInvalid:
    with pytest.raises(ZapInvalid) as info:
        parse(raw, **kwargs)
    assert isinstance(info.value, LnurlError)  # the HTTP side answers every one the same way
    assert info.value.reason
    return info.value


# --- appendix D: what the callback accepts ---------------------------------------------


def test_a_request_built_by_us_parses_back() -> None:
    raw = build_zap_request(
        DRIVER.keys,
        recipient_pubkey=CHARGER.pubkey,
        amount_msat=AMOUNT,
        relays=RELAYS,
        comment="for the charge ⚡",
        lnurl="LNURL1XYZ",
        event_id=EVENT_ID,
        coordinate=COORDINATE,
        now=NOW,
    )
    request = parse(raw)
    assert request.raw == raw
    assert request.sender_pubkey == DRIVER.pubkey
    assert request.recipient_pubkey == CHARGER.pubkey
    assert request.amount_msat == AMOUNT
    assert request.relays == tuple(RELAYS)
    assert (request.event_id, request.coordinate) == (EVENT_ID, COORDINATE)
    assert (request.lnurl, request.comment) == ("LNURL1XYZ", "for the charge ⚡")
    assert request.created_at == NOW
    assert request.id == json.loads(raw)["id"] == compute_id(json.loads(raw))
    assert schnorr_valid(json.loads(raw))


def test_an_independently_signed_request_is_accepted() -> None:
    request = parse(signed_request(content="Grüße aus München 🚗"))
    assert request.comment == "Grüße aus München 🚗"
    assert request.amount_msat == AMOUNT


def test_the_exact_string_is_kept_for_the_description_hash() -> None:
    # Whitespace and key order are the client's: re-serialising would change the hash.
    event = DRIVER.event(kind=9734, tags=request_tags(), content="hi", created_at=NOW)
    raw = json.dumps(dict(reversed(list(event.items()))), indent=1, ensure_ascii=True)
    request = parse(raw)
    assert request.raw == raw
    assert request.description_hash == hashlib.sha256(raw.encode("utf-8")).hexdigest()
    assert "raw" not in repr(request)


def test_the_amount_tag_is_optional() -> None:
    assert parse(signed_request(request_tags(amount=None)), amount=12_345).amount_msat is None


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("not json", "malformed"),
        ("[1, 2]", "malformed"),
        ('{"kind": 9734}', "malformed"),
        ("x" * 20_000, "too-large"),
    ],
)
def test_what_is_not_a_nostr_event_is_refused(raw: str, code: str) -> None:
    assert refusal(raw).code == code


@pytest.mark.parametrize(
    ("field", "value"),
    [("created_at", True), ("created_at", 1.5), ("kind", "9734"), ("tags", [["p", 1]]),
     ("tags", [[]]), ("pubkey", "AB" * 32), ("sig", "00"), ("content", None)],
)  # fmt: skip
def test_events_with_fields_of_the_wrong_shape_are_refused(field: str, value: Any) -> None:
    event = json.loads(signed_request())
    event[field] = value
    assert refusal(json.dumps(event)).code == "malformed"


def test_rule_1_a_changed_event_fails_its_id() -> None:
    event = json.loads(signed_request())
    event["content"] = "changed after signing"
    assert refusal(json.dumps(event)).code == "id"


def test_rule_1_a_signature_by_another_key_fails() -> None:
    event = json.loads(signed_request())
    event["sig"] = json.loads(signed_request(signer=STRANGER))["sig"]
    assert refusal(json.dumps(event)).code == "signature"


def test_rule_1_a_pubkey_off_the_curve_is_refused() -> None:
    event = json.loads(signed_request())
    event["pubkey"] = "ff" * 32  # above the field prime: no such x-only key
    event["id"] = compute_id(event)
    assert refusal(json.dumps(event)).code == "signature"


def test_the_kind_must_be_9734() -> None:
    assert refusal(signed_request(kind=1)).code == "kind"


def test_rule_2_tags_are_required() -> None:
    assert refusal(signed_request([])).code == "no-tags"


def test_rule_3_a_p_tag_is_required() -> None:
    assert refusal(signed_request(request_tags(p=None))).code == "p-tag"


def test_rule_3_only_one_p_tag() -> None:
    two = [["p", CHARGER.pubkey], ["p", STRANGER.pubkey]]
    assert refusal(signed_request(request_tags(p=two))).code == "p-tag"


def test_rule_3_the_p_tag_must_be_this_charger() -> None:
    tags = request_tags(p=[["p", STRANGER.pubkey]])
    assert refusal(signed_request(tags)).code == "wrong-recipient"


def test_rule_3_the_p_tag_must_be_a_public_key() -> None:
    assert refusal(signed_request(request_tags(p=[["p", "npub1xyz"]]))).code == "p-tag"


def test_rule_4_one_e_tag_is_accepted() -> None:
    tags = [*request_tags(), ["e", EVENT_ID], ["k", "1"]]
    request = parse(signed_request(tags))
    assert (request.event_id, request.target_kind) == (EVENT_ID, "1")


@pytest.mark.parametrize(
    "e_tags", [[["e", EVENT_ID], ["e", "ab" * 32]], [["e", "not-an-id"]], [["e"]]]
)
def test_rule_4_more_than_one_or_a_bad_e_tag_is_refused(e_tags: list[list[str]]) -> None:
    assert refusal(signed_request([*request_tags(), *e_tags])).code == "e-tag"


def test_rule_5_a_relays_tag_is_required() -> None:
    assert refusal(signed_request(request_tags(relays=None))).code == "relays"


@pytest.mark.parametrize("relays", [["relays"], ["relays", "https://relay.example.org", "nope"]])
def test_rule_5_the_relays_tag_must_name_a_relay(relays: list[str]) -> None:
    assert refusal(signed_request(request_tags(relays=[relays]))).code == "relays"


def test_rule_5_messy_relay_lists_are_cleaned_not_refused() -> None:
    relays = ["relays", "wss://a.example", " wss://a.example ", "http://b.example", "ws://c:7777"]
    request = parse(signed_request(request_tags(relays=[relays])))
    assert request.relays == ("wss://a.example", "ws://c:7777")


def test_rule_6_the_amount_tag_must_equal_the_query_amount() -> None:
    error = refusal(signed_request(), amount=AMOUNT + 1000)
    assert error.code == "amount-mismatch"
    assert "21000" in error.reason


@pytest.mark.parametrize(
    "amount_tags",
    [[["amount", "21k"]], [["amount", "-21000"]], [["amount", "0"]], [["amount"]],
     [["amount", "²¹"]], [["amount", "21000"], ["amount", "22000"]]],
)  # fmt: skip
def test_rule_6_an_unusable_amount_tag_is_refused(amount_tags: list[list[str]]) -> None:
    assert refusal(signed_request(request_tags(amount=amount_tags))).code == "amount-tag"


@pytest.mark.parametrize(
    "coordinate",
    [COORDINATE, f"10002:{STRANGER.pubkey}:", f"0:{STRANGER.pubkey}:", f"30311:{STRANGER.pubkey}:"],
)
def test_rule_7_valid_coordinates_are_accepted(coordinate: str) -> None:
    assert parse(signed_request([*request_tags(), ["a", coordinate]])).coordinate == coordinate


@pytest.mark.parametrize(
    "coordinate",
    [
        "garbage",
        f"1:{STRANGER.pubkey}:",  # a regular kind has no coordinate
        f"10002:{STRANGER.pubkey}:x",  # replaceable: no d value
        f"30023:{STRANGER.pubkey.upper()}:d",
        f"30023:{STRANGER.pubkey[:-2]}:d",
        f"30023:{STRANGER.pubkey}",
    ],
)
def test_rule_7_an_a_tag_must_be_a_valid_coordinate(coordinate: str) -> None:
    assert refusal(signed_request([*request_tags(), ["a", coordinate]])).code == "a-tag"


def test_rule_7_at_most_one_a_tag() -> None:
    tags = [*request_tags(), ["a", COORDINATE], ["a", COORDINATE]]
    assert refusal(signed_request(tags)).code == "a-tag"


def test_rule_8_a_P_tag_equal_to_the_receipt_signer_is_accepted() -> None:
    assert parse(signed_request([*request_tags(), ["P", CHARGER.pubkey]]))


def test_rule_8_a_P_tag_naming_anyone_else_is_refused() -> None:
    tags = [*request_tags(), ["P", DRIVER.pubkey]]
    assert refusal(signed_request(tags)).code == "P-tag"


def test_rule_8_at_most_one_P_tag() -> None:
    tags = [*request_tags(), ["P", CHARGER.pubkey], ["P", CHARGER.pubkey]]
    assert refusal(signed_request(tags)).code == "P-tag"


def test_rule_8_the_receipt_signer_can_differ_from_the_charger() -> None:
    raw = signed_request([*request_tags(), ["P", STRANGER.pubkey]])
    parse_zap_request(
        raw,
        amount_msat=AMOUNT,
        charger_pubkey=CHARGER.pubkey,
        receipt_pubkey=STRANGER.pubkey,
        now=NOW,
        max_age_s=600,
    )


def test_created_at_must_be_recent() -> None:
    assert parse(signed_request(created_at=NOW - 600))
    assert refusal(signed_request(created_at=NOW - 601)).code == "too-old"


def test_created_at_must_not_be_in_the_future() -> None:
    assert parse(signed_request(created_at=NOW + 300))
    assert refusal(signed_request(created_at=NOW + 301)).code == "in-future"


# --- appendix E: the receipt we sign ----------------------------------------------------


def zap_request(tags: list[list[str]] | None = None) -> ZapRequest:
    return parse(signed_request(tags))


def paid_invoice(request: ZapRequest, amount: int = AMOUNT, **kwargs: Any) -> tuple[str, str]:
    return issue_invoice(amount, description_hash=request.description_hash, **kwargs)


def test_the_receipt_carries_exactly_the_nip57_fields() -> None:
    request = zap_request([*request_tags(), ["e", EVENT_ID], ["a", COORDINATE], ["k", "30023"]])
    bolt11, preimage = paid_invoice(request)
    receipt = json.loads(build_zap_receipt(CHARGER.keys, request, bolt11, preimage, NOW + 42))
    assert receipt["kind"] == 9735
    assert receipt["pubkey"] == CHARGER.pubkey
    assert receipt["created_at"] == NOW + 42
    assert receipt["content"] == ""
    assert receipt["tags"] == [
        ["p", CHARGER.pubkey],
        ["P", DRIVER.pubkey],
        ["e", EVENT_ID],
        ["a", COORDINATE],
        ["k", "30023"],
        ["bolt11", bolt11],
        ["description", request.raw],
        ["preimage", preimage],
    ]
    assert hashlib.sha256(receipt["tags"][6][1].encode()).hexdigest() == request.description_hash


def test_the_receipt_signature_checks_out_with_coincurve() -> None:
    request = zap_request()
    bolt11, preimage = paid_invoice(request)
    receipt = json.loads(build_zap_receipt(CHARGER.keys, request, bolt11, preimage, NOW))
    assert receipt["id"] == compute_id(receipt)
    assert schnorr_valid(receipt)
    receipt["created_at"] += 1
    assert not schnorr_valid({**receipt, "id": compute_id(receipt)})


def test_a_receipt_without_preimage_has_no_preimage_tag() -> None:
    request = zap_request()
    bolt11, _ = paid_invoice(request)
    receipt = json.loads(build_zap_receipt(CHARGER.keys, request, bolt11, None, NOW))
    assert [tag[0] for tag in receipt["tags"]] == ["p", "P", "bolt11", "description"]


def test_no_receipt_for_an_invoice_of_another_request() -> None:
    request = zap_request()
    bolt11, preimage = issue_invoice(AMOUNT, description_hash="00" * 32)
    with pytest.raises(ZapInvalid) as info:
        build_zap_receipt(CHARGER.keys, request, bolt11, preimage, NOW)
    assert info.value.code == "description-hash"


def test_no_receipt_with_a_wrong_preimage() -> None:
    request = zap_request()
    bolt11, _ = paid_invoice(request)
    with pytest.raises(ZapInvalid) as info:
        build_zap_receipt(CHARGER.keys, request, bolt11, "00" * 32, NOW)
    assert info.value.code == "preimage"


# --- appendix F: receipts we check ------------------------------------------------------


def check(raw: str, **kwargs: Any) -> Any:
    options: dict[str, Any] = {
        "trusted_zapper_pubkeys": {CHARGER.pubkey},
        "expected_recipient": CHARGER.pubkey,
        "currency": "bcrt",
    }
    return validate_zap_receipt(raw, **{**options, **kwargs})


def receipt_refusal(raw: str, **kwargs: Any) -> str:
    with pytest.raises(ZapInvalid) as info:
        check(raw, **kwargs)
    return info.value.code


def forged_receipt(request: ZapRequest, invoice: str, **replace: list[list[str]] | None) -> str:
    """A receipt signed by the charger's key but written by hand, to break one rule."""
    tags = {
        "p": [["p", CHARGER.pubkey]],
        "P": [["P", request.sender_pubkey]],
        "bolt11": [["bolt11", invoice]],
        "description": [["description", request.raw]],
    }
    for name, value in replace.items():
        tags[name] = value or []
    flat = [tag for group in tags.values() for tag in group]
    return CHARGER.event_json(kind=9735, tags=flat, created_at=NOW)


def test_a_receipt_of_ours_validates() -> None:
    request = zap_request([*request_tags(), ["e", EVENT_ID]])
    bolt11, preimage = paid_invoice(request)
    raw = build_zap_receipt(CHARGER.keys, request, bolt11, preimage, NOW + 7)
    receipt = check(raw)
    assert receipt.amount_msat == AMOUNT
    assert receipt.zapper_pubkey == receipt.recipient_pubkey == CHARGER.pubkey
    assert receipt.request.sender_pubkey == DRIVER.pubkey
    assert receipt.request.raw == request.raw
    assert receipt.payment_hash == hashlib.sha256(bytes.fromhex(preimage)).hexdigest()
    assert (receipt.preimage, receipt.created_at) == (preimage, NOW + 7)
    assert preimage not in repr(receipt)


def test_the_signer_must_be_a_trusted_zapper() -> None:
    request = zap_request()
    bolt11, preimage = paid_invoice(request)
    raw = build_zap_receipt(STRANGER.keys, request, bolt11, preimage, NOW)
    assert receipt_refusal(raw) == "untrusted-signer"
    assert check(raw, trusted_zapper_pubkeys={STRANGER.pubkey, CHARGER.pubkey})


def test_a_changed_receipt_fails_its_id() -> None:
    request = zap_request()
    raw = build_zap_receipt(CHARGER.keys, request, paid_invoice(request)[0], None, NOW)
    event = json.loads(raw)
    event["created_at"] -= 3600
    assert receipt_refusal(json.dumps(event)) == "id"


def test_a_receipt_must_be_kind_9735() -> None:
    assert receipt_refusal(signed_request(signer=CHARGER)) == "kind"


def test_the_invoice_amount_must_equal_the_requested_amount() -> None:
    request = zap_request()
    bolt11, _ = paid_invoice(request, amount=AMOUNT - 1000)
    assert receipt_refusal(forged_receipt(request, bolt11)) == "amount-mismatch"


def test_the_invoice_must_commit_to_the_embedded_request() -> None:
    request = zap_request()
    other = parse(signed_request(content="another zap"))
    bolt11, _ = paid_invoice(other)
    assert receipt_refusal(forged_receipt(request, bolt11)) == "description-hash"


def test_the_receipt_must_be_for_the_expected_recipient() -> None:
    request = zap_request()
    raw = build_zap_receipt(CHARGER.keys, request, paid_invoice(request)[0], None, NOW)
    assert receipt_refusal(raw, expected_recipient=STRANGER.pubkey) == "wrong-recipient"
    bolt11 = paid_invoice(request)[0]
    forged = forged_receipt(request, bolt11, p=[["p", STRANGER.pubkey]])
    assert receipt_refusal(forged) == "wrong-recipient"


def test_the_embedded_request_must_be_validly_signed() -> None:
    event = json.loads(signed_request())
    event["sig"] = json.loads(signed_request(signer=STRANGER))["sig"]
    tampered = json.dumps(event)
    fake = ZapRequest(
        raw=tampered, id=event["id"], sender_pubkey=DRIVER.pubkey,
        recipient_pubkey=CHARGER.pubkey, created_at=NOW, relays=tuple(RELAYS),
        amount_msat=AMOUNT, lnurl=None, event_id=None, coordinate=None,
        target_kind=None, comment="",
    )  # fmt: skip
    bolt11, _ = paid_invoice(fake)
    assert receipt_refusal(forged_receipt(fake, bolt11)) == "request-signature"


def test_the_embedded_request_must_follow_appendix_d() -> None:
    request = zap_request()
    two_p = signed_request(request_tags(p=[["p", CHARGER.pubkey], ["p", STRANGER.pubkey]]))
    raw = forged_receipt(request, paid_invoice(request)[0], description=[["description", two_p]])
    assert receipt_refusal(raw) == "request-p-tag"


@pytest.mark.parametrize(
    ("tags", "code"),
    [(None, "bolt11-tag"), ([["bolt11"]], "bolt11-tag"), ([["bolt11", "lnbcrt1x"]], "bolt11")],
)
def test_the_receipt_needs_one_decodable_bolt11(tags: list[list[str]] | None, code: str) -> None:
    request = zap_request()
    assert receipt_refusal(forged_receipt(request, "", bolt11=tags)) == code


def test_two_bolt11_tags_are_refused() -> None:
    request = zap_request()
    bolt11 = paid_invoice(request)[0]
    raw = forged_receipt(request, "", bolt11=[["bolt11", bolt11], ["bolt11", bolt11]])
    assert receipt_refusal(raw) == "bolt11-tag"


def test_the_receipt_needs_a_description() -> None:
    request = zap_request()
    raw = forged_receipt(request, paid_invoice(request)[0], description=None)
    assert receipt_refusal(raw) == "description-tag"


def test_a_receipt_P_tag_must_be_the_request_author() -> None:
    request = zap_request()
    raw = forged_receipt(request, paid_invoice(request)[0], P=[["P", STRANGER.pubkey]])
    assert receipt_refusal(raw) == "P-tag"


def test_e_and_a_tags_must_match_the_request() -> None:
    request = zap_request([*request_tags(), ["e", EVENT_ID]])
    bolt11 = paid_invoice(request)[0]
    assert receipt_refusal(forged_receipt(request, bolt11)) == "e-tag"  # e missing
    forged = forged_receipt(request, bolt11, e=[["e", EVENT_ID]], a=[["a", COORDINATE]])
    assert receipt_refusal(forged) == "a-tag"  # a added


def test_a_wrong_preimage_is_refused() -> None:
    request = zap_request()
    raw = forged_receipt(request, paid_invoice(request)[0], preimage=[["preimage", "00" * 32]])
    assert receipt_refusal(raw) == "preimage-tag"


def test_an_amountless_invoice_is_refused() -> None:
    request = zap_request()
    raw = forged_receipt(request, paid_invoice(request, amount=None)[0])  # type: ignore[arg-type]
    assert receipt_refusal(raw) == "amount-missing"


def test_an_invoice_of_another_network_is_refused() -> None:
    request = zap_request()
    raw = forged_receipt(request, paid_invoice(request, currency="bc")[0])
    assert receipt_refusal(raw) == "network"
    assert check(raw, currency=None)


def test_the_request_lnurl_should_be_the_recipients() -> None:
    request = zap_request()
    raw = forged_receipt(request, paid_invoice(request)[0])
    assert check(raw, expected_lnurl="lnurl1dp68gurn8ghj7")  # bech32: case does not matter
    assert receipt_refusal(raw, expected_lnurl="LNURL1OTHER") == "lnurl-mismatch"


def test_every_accepted_request_gets_a_receipt_that_validates() -> None:
    # Payment happens between acceptance and receipt: nothing accepted may fail to sign.
    odd = [
        *request_tags(relays=[["relays", "ws://127.0.0.1:7777", "wss://ünïcode.example"]]),
        ["e", EVENT_ID],
        ["a", f"39999:{STRANGER.pubkey}:d:with:colons and\nnewline ⚡"],
        ["k", "99999999"],
        ["P", CHARGER.pubkey],
        ["unknown", "tag", "with", "values"],
    ]
    request = parse(signed_request(odd, content='quotes " and \\ backslashes'))
    bolt11, preimage = paid_invoice(request)
    receipt = check(build_zap_receipt(CHARGER.keys, request, bolt11, preimage, NOW))
    assert receipt.request == request
