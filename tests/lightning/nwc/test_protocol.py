"""The NIP-47 codec: round-trips, the spec's own examples, and every malformed input refused."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.errors import LightningError, NwcProtocolError, is_retryable
from bot.lightning.nwc.protocol import (
    Encryption,
    ErrorCode,
    Notification,
    Request,
    Response,
    Transaction,
    WalletError,
    WalletInfo,
    choose_encryption,
    decode_notification,
    decode_request,
    decode_response,
    encode_notification,
    encode_request,
    encode_response,
    encryption_of_request,
    format_uri,
    info_content,
    info_tags,
    parse_info,
    parse_transaction,
    transaction_json,
)

HASH = "ab" * 32
PREIMAGE = "cd" * 32

# The info event of NIP-47's appendix, as a wallet service sent it.
SPEC_INFO_CONTENT = (
    "pay_invoice pay_keysend get_balance get_info make_invoice lookup_invoice "
    "list_transactions multi_pay_invoice multi_pay_keysend sign_message notifications"
)
SPEC_INFO_TAGS = [
    ["encryption", "nip44_v2 nip04"],
    ["notifications", "payment_received payment_sent"],
]


def test_the_spec_info_event_is_read() -> None:
    info = parse_info(SPEC_INFO_CONTENT, SPEC_INFO_TAGS)
    assert {"pay_invoice", "make_invoice", "lookup_invoice"} <= info.methods
    assert len(info.methods) == 11
    assert info.notifications == frozenset({"payment_received", "payment_sent"})
    assert info.encryptions == (Encryption.NIP44_V2, Encryption.NIP04)
    assert choose_encryption(info) is Encryption.NIP44_V2


def test_no_encryption_tag_means_nip04_only() -> None:
    info = parse_info("pay_invoice make_invoice", [])
    assert info.encryptions == (Encryption.NIP04,)
    assert info.notifications == frozenset()
    assert choose_encryption(info) is Encryption.NIP04


def test_nip04_is_chosen_when_it_is_all_the_wallet_offers() -> None:
    info = parse_info("make_invoice", [["encryption", "nip04"]])
    assert choose_encryption(info) is Encryption.NIP04


def test_nip44_is_preferred_whatever_the_order() -> None:
    info = parse_info("make_invoice", [["encryption", "nip04 nip44_v2"]])
    assert choose_encryption(info) is Encryption.NIP44_V2


def test_a_wallet_with_only_unknown_schemes_cannot_be_spoken_to() -> None:
    info = parse_info("make_invoice", [["encryption", "nip44_v3"]])
    assert info.encryptions == ()
    with pytest.raises(NwcProtocolError):
        choose_encryption(info)


@pytest.mark.parametrize("tags", [[["encryption", 4]], [[None]], ["encryption"]])
def test_malformed_info_tags_are_refused(tags: Any) -> None:
    with pytest.raises(NwcProtocolError):
        parse_info("make_invoice", tags)


def test_malformed_info_content_is_refused() -> None:
    with pytest.raises(NwcProtocolError):
        parse_info(None, [])  # type: ignore[arg-type]


def test_info_built_for_a_wallet_reads_back() -> None:
    methods = ["make_invoice", "lookup_invoice", "pay_invoice"]
    content = info_content(methods)
    tags = info_tags([Encryption.NIP44_V2, Encryption.NIP04], ["payment_received"])
    assert content == "make_invoice lookup_invoice pay_invoice"
    assert tags == [["encryption", "nip44_v2 nip04"], ["notifications", "payment_received"]]
    assert parse_info(content, tags) == WalletInfo(
        frozenset(methods), frozenset({"payment_received"}), (Encryption.NIP44_V2, Encryption.NIP04)
    )


def test_a_wallet_without_notifications_writes_no_notifications_tag() -> None:
    assert info_tags([Encryption.NIP04], []) == [["encryption", "nip04"]]


def test_the_request_names_its_encryption() -> None:
    assert encryption_of_request([["p", "x"], ["encryption", "nip44_v2"]]) is Encryption.NIP44_V2
    assert encryption_of_request([["p", "x"]]) is Encryption.NIP04
    assert encryption_of_request([["encryption", "rot13"]]) is None


def test_the_uri_has_the_spec_shape() -> None:
    uri = format_uri("b8" * 32, ["wss://relay.example.org"], "71" * 32)
    assert uri == (
        "nostr+walletconnect://"
        + "b8" * 32
        + "?relay=wss%3A%2F%2Frelay.example.org&secret="
        + "71" * 32
    )


# -- requests ---------------------------------------------------------------------------


def test_request_round_trip() -> None:
    request = Request("pay_invoice", {"invoice": "lnbcrt1...", "amount": 1000})
    text = encode_request(request)
    assert json.loads(text) == {
        "method": "pay_invoice",
        "params": {"invoice": "lnbcrt1...", "amount": 1000},
    }
    assert decode_request(text) == request


def test_a_request_without_params_has_none() -> None:
    assert decode_request('{"method": "get_info"}') == Request("get_info", {})


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[1, 2]",
        '{"params": {}}',
        '{"method": 7, "params": {}}',
        '{"method": "", "params": {}}',
        '{"method": "pay_invoice", "params": []}',
        '{"method": "pay_invoice", "params": "lnbc"}',
    ],
)
def test_malformed_requests_are_refused(text: str) -> None:
    with pytest.raises(NwcProtocolError):
        decode_request(text)


# -- responses --------------------------------------------------------------------------


def test_a_successful_response_round_trips() -> None:
    response = Response.success("pay_invoice", {"preimage": PREIMAGE, "fees_paid": 3})
    text = encode_response(response)
    assert json.loads(text) == {
        "result_type": "pay_invoice",
        "error": None,
        "result": {"preimage": PREIMAGE, "fees_paid": 3},
    }
    assert decode_response(text) == response


def test_an_error_response_round_trips() -> None:
    response = Response.failure("pay_invoice", ErrorCode.INSUFFICIENT_BALANCE, "not enough")
    text = encode_response(response)
    assert json.loads(text)["error"] == {"code": "INSUFFICIENT_BALANCE", "message": "not enough"}
    assert json.loads(text)["result"] is None
    decoded = decode_response(text)
    assert decoded == response
    assert decoded.error == WalletError(
        ErrorCode.INSUFFICIENT_BALANCE, "not enough", "INSUFFICIENT_BALANCE"
    )


@pytest.mark.parametrize(
    "raw",
    [
        "RATE_LIMITED",
        "NOT_IMPLEMENTED",
        "INSUFFICIENT_BALANCE",
        "QUOTA_EXCEEDED",
        "RESTRICTED",
        "UNAUTHORIZED",
        "INTERNAL",
        "UNSUPPORTED_ENCRYPTION",
        "PAYMENT_FAILED",
        "NOT_FOUND",
        "OTHER",
    ],
)
def test_every_spec_error_code_is_known(raw: str) -> None:
    text = json.dumps({"result_type": "x", "error": {"code": raw, "message": "m"}})
    error = decode_response(text).error
    assert error is not None
    assert error.code.name == raw
    assert error.raw_code == raw


def test_an_unknown_error_code_is_other_and_keeps_its_word() -> None:
    text = json.dumps(
        {"result_type": "pay_invoice", "error": {"code": "BUDGET_GONE", "message": "m"}}
    )
    error = decode_response(text).error
    assert error == WalletError(ErrorCode.OTHER, "m", "BUDGET_GONE")
    assert json.loads(encode_response(Response("pay_invoice", None, error)))["error"]["code"] == (
        "BUDGET_GONE"
    )


def test_an_error_may_name_no_method() -> None:
    text = '{"result_type": "", "error": {"code": "UNSUPPORTED_ENCRYPTION", "message": "m"}}'
    response = decode_response(text)
    assert response.result_type == ""
    assert response.error == WalletError(
        ErrorCode.UNSUPPORTED_ENCRYPTION, "m", "UNSUPPORTED_ENCRYPTION"
    )


def test_an_error_without_a_message_is_kept() -> None:
    error = decode_response('{"result_type": "x", "error": {"code": "INTERNAL"}}').error
    assert error == WalletError(ErrorCode.INTERNAL, "", "INTERNAL")


@pytest.mark.parametrize(
    "text",
    [
        "{",
        '"pay_invoice"',
        '{"error": null, "result": {}}',
        '{"result_type": 1, "result": {}}',
        '{"result_type": "", "result": {}}',
        '{"result_type": null, "error": {"code": "OTHER", "message": "m"}}',
        '{"result_type": "pay_invoice", "error": null, "result": null}',
        '{"result_type": "pay_invoice"}',
        '{"result_type": "pay_invoice", "result": [1]}',
        '{"result_type": "pay_invoice", "error": "bad"}',
        '{"result_type": "pay_invoice", "error": {"message": "no code"}}',
        '{"result_type": "pay_invoice", "error": {"code": 5, "message": "m"}}',
        '{"result_type": "pay_invoice", "error": {"code": "OTHER", "message": 5}}',
    ],
)
def test_malformed_responses_are_refused(text: str) -> None:
    with pytest.raises(NwcProtocolError):
        decode_response(text)


def test_a_protocol_error_is_a_lightning_error_and_no_outage() -> None:
    error = NwcProtocolError("garbage")
    assert isinstance(error, LightningError)
    assert not is_retryable(error)


# -- notifications ----------------------------------------------------------------------


def test_notification_round_trip() -> None:
    notification = Notification("payment_received", {"payment_hash": HASH, "amount": 5})
    text = encode_notification(notification)
    assert json.loads(text) == {
        "notification_type": "payment_received",
        "notification": {"payment_hash": HASH, "amount": 5},
    }
    assert decode_notification(text) == notification


@pytest.mark.parametrize(
    "text",
    [
        "",
        "null",
        '{"notification": {}}',
        '{"notification_type": "payment_received"}',
        '{"notification_type": "payment_received", "notification": "x"}',
        '{"notification_type": 3, "notification": {}}',
    ],
)
def test_malformed_notifications_are_refused(text: str) -> None:
    with pytest.raises(NwcProtocolError):
        decode_notification(text)


# -- transactions -----------------------------------------------------------------------


def _settled() -> dict[str, Any]:
    return {
        "type": "incoming",
        "state": "settled",
        "invoice": "lnbcrt10u1...",
        "description_hash": "ef" * 32,
        "preimage": PREIMAGE,
        "payment_hash": HASH,
        "amount": 1_000_000,
        "fees_paid": 0,
        "created_at": 1_700_000_000,
        "expires_at": 1_700_003_600,
        "settled_at": 1_700_000_100,
        "metadata": {"comment": "ignored"},
    }


def test_a_settled_invoice_is_read() -> None:
    transaction = parse_transaction(_settled())
    assert transaction == Transaction(
        type="incoming",
        state="settled",
        payment_hash=HASH,
        amount_msat=1_000_000,
        created_at=1_700_000_000,
        invoice="lnbcrt10u1...",
        description_hash="ef" * 32,
        preimage=PREIMAGE,
        fees_paid_msat=0,
        expires_at=1_700_003_600,
        settled_at=1_700_000_100,
    )
    assert transaction.settled


def test_transaction_round_trip() -> None:
    transaction = parse_transaction(_settled())
    assert parse_transaction(transaction_json(transaction)) == transaction
    assert transaction_json(transaction)["amount"] == 1_000_000
    assert "description" not in transaction_json(transaction)


def test_an_older_wallet_without_state_is_settled_by_its_settled_at() -> None:
    obj = _settled()
    del obj["state"]
    assert parse_transaction(obj).state == "settled"
    del obj["settled_at"]
    obj["preimage"] = None
    assert parse_transaction(obj).state == "pending"


def test_null_and_empty_optional_fields_are_absent() -> None:
    obj = {**_settled(), "state": "pending", "preimage": "", "settled_at": None, "fees_paid": None}
    obj["description"] = None
    transaction = parse_transaction(obj)
    assert transaction.preimage is None
    assert transaction.settled_at is None
    assert transaction.fees_paid_msat == 0
    assert transaction.description is None
    assert not transaction.settled


def test_hex_is_read_in_either_case() -> None:
    obj = {**_settled(), "payment_hash": HASH.upper()}
    assert parse_transaction(obj).payment_hash == HASH


@pytest.mark.parametrize(
    "change",
    [
        {"type": "sideways"},
        {"type": None},
        {"state": "lost"},
        {"payment_hash": "ab"},
        {"payment_hash": None},
        {"payment_hash": "zz" * 32},
        {"preimage": "12"},
        {"amount": "1000"},
        {"amount": -1},
        {"amount": 1.5},
        {"amount": True},
        {"amount": 2**64},
        {"amount": None},
        {"created_at": None},
        {"settled_at": "yesterday"},
        {"invoice": 42},
        {"fees_paid": -3},
    ],
    ids=lambda change: ",".join(f"{k}={v!r}" for k, v in change.items()),
)
def test_malformed_transactions_are_refused(change: dict[str, Any]) -> None:
    with pytest.raises(NwcProtocolError):
        parse_transaction({**_settled(), **change})


def test_a_transaction_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(NwcProtocolError):
        parse_transaction(["incoming"])  # type: ignore[arg-type]
