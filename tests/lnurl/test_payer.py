"""The paying side of LNURL-pay: a stranger's pay request and its invoice, checked."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from bot.errors import LnurlError
from bot.lnurl.payer import callback_url, check_pay_invoice, lud_error, parse_pay_request
from tests.lnurl.invoices import issue_invoice

METADATA = json.dumps([["text/plain", "Alice"], ["text/identifier", "alice@example.org"]])
NOW = 1_700_000_100


def pay_request(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "tag": "payRequest",
        "callback": "https://example.org/lnurlp/alice/callback",
        "minSendable": 1000,
        "maxSendable": 10_000_000,
        "metadata": METADATA,
        "commentAllowed": 32,
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def test_a_pay_request_is_read() -> None:
    offer = parse_pay_request(pay_request(allowsNostr=True, nostrPubkey="ab" * 32))
    assert offer.callback == "https://example.org/lnurlp/alice/callback"
    assert (offer.min_sendable_msat, offer.max_sendable_msat) == (1000, 10_000_000)
    assert (offer.metadata, offer.comment_allowed, offer.nostr_pubkey) == (METADATA, 32, "ab" * 32)


def test_nostr_is_only_taken_when_allowed_and_comments_leniently() -> None:
    offer = parse_pay_request(pay_request(nostrPubkey="ab" * 32, commentAllowed="lots"))
    assert (offer.nostr_pubkey, offer.comment_allowed) == (None, 0)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"tag": "withdrawRequest"}, "not an LNURL pay request"),
        ({"callback": "ftp://x"}, "callback"),
        ({"minSendable": True}, "minSendable"),
        ({"maxSendable": 1.5}, "maxSendable"),
        ({"minSendable": 5000, "maxSendable": 4000}, "impossible"),
        ({"minSendable": 0}, "impossible"),
        ({"metadata": None}, "metadata"),
        ({"metadata": "not json"}, "metadata is not JSON"),
        ({"metadata": '[["image/png;base64", "x"]]'}, "text/plain"),
        ({"allowsNostr": True, "nostrPubkey": "npub1..."}, "nostrPubkey"),
    ],
)
def test_broken_pay_requests_are_refused(changes: dict[str, Any], reason: str) -> None:
    with pytest.raises(LnurlError, match=reason):
        parse_pay_request(pay_request(**changes))
    with pytest.raises(LnurlError):
        parse_pay_request([pay_request()])


def test_lud_errors_are_recognised() -> None:
    assert lud_error({"status": "ERROR", "reason": "nope"}) == "nope"
    assert lud_error({"status": "error"}) == "no reason given"
    assert lud_error({"status": "OK"}) is None
    assert lud_error(pay_request()) is None


def test_the_callback_query_is_joined_either_way() -> None:
    assert callback_url("https://x.org/cb", {"amount": "1000"}) == "https://x.org/cb?amount=1000"
    assert callback_url("https://x.org/cb?id=7", {"amount": "1", "comment": "a b&c"}) == (
        "https://x.org/cb?id=7&amount=1&comment=a+b%26c"
    )


def invoice(amount: int | None = 21_000, description: str = METADATA, **kwargs: Any) -> str:
    digest = hashlib.sha256(description.encode()).hexdigest()
    return issue_invoice(amount, description_hash=digest, created_at=NOW - 100, **kwargs)[0]


def check(pr: Any, amount: int = 21_000, now: int = NOW) -> object:
    return check_pay_invoice(pr, amount_msat=amount, description=METADATA, currency="bcrt", now=now)


def test_the_right_invoice_passes() -> None:
    pr = invoice()
    assert check(pr).payment_hash  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda: invoice(21_001), "asks 21001 msat, not 21000"),
        (lambda: invoice(None), "asks None msat"),
        (lambda: invoice(description="[]"), "description hash"),
        (lambda: invoice(currency="bc"), "another network"),
        (lambda: invoice(expiry_s=60), "expired"),
        (lambda: None, "no invoice"),
        (lambda: "lnbcrt1garbage", "invalid invoice"),
    ],
)
def test_wrong_invoices_are_refused(make: Any, reason: str) -> None:
    with pytest.raises(LnurlError, match=reason):
        check(make())
