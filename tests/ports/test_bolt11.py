"""BOLT11 decoding: real invoices, Core Lightning's own example, and garbage."""

from __future__ import annotations

import hashlib

import pytest
from coincurve import PrivateKey

from bot.errors import LnurlError
from bot.ports.bolt11 import DecodedInvoice, decode_invoice
from tests.lnurl.invoices import NODE_KEY, issue_invoice

# From ../shared/specs/cln-schemas/decode.json, example 2, with what lightningd decoded.
CLN_INVOICE = (
    "lnbcrt2u1pne035qsp5syt0v2w9nsa7xnu9neq9np0ln5c7e25mnurjppqzwktwtkr830sqpp50efh2wgkgp2ftp"
    "6spsdl5pwsgmjf6cncm793a8yck764rnmh35gqdqcdserygryv4ekxunfwp6xjmmwxqyjw5qcqp9rzjq08vhlwxs"
    "4zvcktzywmgecr3pj096tyukvt7upuz9k2s0xkvwq7nzqqqwcqqqqgqqqqqqqqpqqqqqzsqqc9qxpqysgq2ysc0l"
    "l0du4pgdz0l8xt9uu47t72k3chdxvxnrj9vj6arxecvej4cmh2x3uwe9xye2mpm2df5xfuh9xgcc0um4uwnc69x5"
    "yu5glqfgcqac9wfd"
)


def test_an_issued_invoice_decodes_to_what_was_issued() -> None:
    bolt11, preimage = issue_invoice(21_000, description_hash="ab" * 32, expiry_s=600)
    invoice = decode_invoice(bolt11)
    node = PrivateKey(bytes.fromhex(NODE_KEY)).public_key.format().hex()
    assert invoice == DecodedInvoice(
        bolt11=bolt11,
        currency="bcrt",
        amount_msat=21_000,
        payment_hash=hashlib.sha256(bytes.fromhex(preimage)).hexdigest(),
        description=None,
        description_hash="ab" * 32,
        payee=node,
        created_at=1_700_000_000,
        expiry_s=600,
    )
    assert invoice.expires_at == 1_700_000_600
    assert not invoice.is_expired(1_700_000_599)
    assert invoice.is_expired(1_700_000_600)


@pytest.mark.parametrize("amount", [1, 999, 1000, 21_000_123, 2_100_000_000_000])
def test_amounts_survive_to_the_millisatoshi(amount: int) -> None:
    assert decode_invoice(issue_invoice(amount)[0]).amount_msat == amount


def test_an_amountless_invoice_has_no_amount() -> None:
    assert decode_invoice(issue_invoice(None)[0]).amount_msat is None


def test_core_lightnings_own_invoice_decodes_as_lightningd_says() -> None:
    invoice = decode_invoice(CLN_INVOICE)
    assert invoice.currency == "bcrt"
    assert invoice.amount_msat == 200_000
    assert invoice.payee == "033845802d25b4e074ccfd7cd8b339a41dc75bf9978a034800444b51d42b07799a"
    assert invoice.payment_hash == (
        "7e5375391640549587500c1bfa05d046e49d6278df8b1e9c98b7b551cf778d10"
    )
    assert (invoice.description, invoice.created_at, invoice.expiry_s) == (
        "l22 description",
        1738000000,
        604800,
    )


@pytest.mark.parametrize(
    "text",
    [
        "",
        "hello",
        "lnbcrt1garbage",
        "lnxx1" + "q" * 200,
        "lnbcrt15p1" + "q" * 200,  # 15 pico-bitcoin is 1.5 msat
        "lnbcrt0n1" + "q" * 200,
        "lnbcrt" + "1" * 9000,
    ],
)
def test_garbage_is_an_lnurl_error(text: str) -> None:
    with pytest.raises(LnurlError, match="invalid invoice"):
        decode_invoice(text)


def test_a_changed_character_breaks_the_checksum() -> None:
    bolt11 = issue_invoice(21_000)[0]
    broken = bolt11[:-10] + ("q" if bolt11[-10] != "q" else "p") + bolt11[-9:]
    with pytest.raises(LnurlError, match="invalid invoice"):
        decode_invoice(broken)
