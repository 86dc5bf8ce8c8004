"""LUD-03 withdraw for refunds: the offer, the callback's parameters and invoice rules."""

from __future__ import annotations

import logging

import lnurl
import pytest

from bot.errors import LnurlError
from bot.lnurl.protocol import Urls
from bot.lnurl.withdraw import (
    WithdrawOffer,
    check_withdraw_invoice,
    k1_matches,
    new_k1,
    parse_withdraw_callback,
)
from tests.lnurl.invoices import issue_invoice

URLS = Urls("https://charge.example.org")
K1 = "5f" * 32
NOW = 1_700_000_100  # issue_invoice dates invoices 1_700_000_000, valid for an hour


def check(pr: str, *, refundable: int = 3_000_000, now: int = NOW) -> int | None:
    return check_withdraw_invoice(
        pr, min_withdrawable_msat=1000, max_withdrawable_msat=refundable, currency="bcrt", now=now
    ).amount_msat


def test_the_withdraw_request_has_every_field() -> None:
    offer = WithdrawOffer(
        callback=URLS.withdraw_callback(),
        k1=K1,
        min_withdrawable_msat=1000,
        max_withdrawable_msat=3_000_000,
        default_description="Zapcharge refund, session s-42",
    )
    answer = offer.as_json()
    assert answer == {
        "tag": "withdrawRequest",
        "callback": "https://charge.example.org/lnurlw/callback",
        "k1": K1,
        "defaultDescription": "Zapcharge refund, session s-42",
        "minWithdrawable": 1000,
        "maxWithdrawable": 3_000_000,
    }
    assert isinstance(lnurl.LnurlResponse.from_dict(dict(answer)), lnurl.LnurlWithdrawResponse)


def test_k1_stays_out_of_reprs_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    offer = WithdrawOffer(URLS.withdraw_callback(), K1, 0, 1000, "refund")
    callback = parse_withdraw_callback({"k1": K1, "pr": "lnbcrt1"})
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("test").info("offer %r callback %r", offer, callback)
    assert K1 not in caplog.text


def test_withdraw_bounds_must_be_ordered() -> None:
    with pytest.raises(ValueError, match="min <= max"):
        WithdrawOffer(URLS.withdraw_callback(), K1, 2000, 1000, "refund")


def test_k1_is_random_hex_of_32_bytes() -> None:
    first, second = new_k1(), new_k1()
    assert len(first) == 64 and int(first, 16) >= 0
    assert first != second
    assert new_k1(lambda n: bytes(range(n))) == bytes(range(32)).hex()


def test_k1_comparison() -> None:
    assert k1_matches(K1, K1)
    assert not k1_matches(K1, "5e" * 32)
    assert not k1_matches("", K1)


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"pr": "lnbcrt1"}, "k1 is missing"),
        ({"k1": K1}, "pr .* is missing"),
        ({"k1": K1, "pr": ""}, "pr .* is missing"),
        ({"k1": "5F" * 32, "pr": "lnbcrt1"}, "unknown or used"),
        ({"k1": "abc", "pr": "lnbcrt1"}, "unknown or used"),
    ],
)
def test_callback_parameters(params: dict[str, str], reason: str) -> None:
    with pytest.raises(LnurlError, match=reason):
        parse_withdraw_callback(params)


def test_a_fitting_invoice_is_accepted() -> None:
    assert check(issue_invoice(3_000_000)[0]) == 3_000_000
    assert check(issue_invoice(2_000_000)[0]) == 2_000_000


def test_an_invoice_above_the_refundable_amount_is_refused() -> None:
    with pytest.raises(LnurlError, match="above the 3000000 msat refundable"):
        check(issue_invoice(3_000_001)[0])


def test_an_invoice_below_the_minimum_is_refused() -> None:
    with pytest.raises(LnurlError, match="below the minimum"):
        check(issue_invoice(999)[0])


def test_an_amountless_invoice_is_refused() -> None:
    with pytest.raises(LnurlError, match="must state an amount"):
        check(issue_invoice(None)[0])


def test_an_expired_or_nearly_expired_invoice_is_refused() -> None:
    bolt11 = issue_invoice(1_000_000, expiry_s=600)[0]
    assert check(bolt11, now=1_700_000_000 + 600 - 31)
    with pytest.raises(LnurlError, match="expire"):
        check(bolt11, now=1_700_000_000 + 600 - 30)
    with pytest.raises(LnurlError, match="expire"):
        check(bolt11, now=1_700_000_000 + 3600)


@pytest.mark.parametrize("currency", ["bc", "tb", "tbs"])
def test_an_invoice_of_another_network_is_refused(currency: str) -> None:
    with pytest.raises(LnurlError, match="another network"):
        check(issue_invoice(1_000_000, currency=currency)[0])


def test_garbage_is_refused() -> None:
    with pytest.raises(LnurlError, match="invalid invoice"):
        check("lnbcrt1notaninvoice")
