from __future__ import annotations

import hashlib
import json

import bolt11
import pytest
from coincurve import PrivateKey

from bot.lightning.simnode.invoices import decode_invoice, issue_invoice
from bot.lightning.simnode.rpc import RpcFault
from tests.lightning.cln_schema import load_schema, validator

KEY = PrivateKey(b"\x01" * 32)
PREIMAGE = b"\x02" * 32


def issue(description: str = "coffee", *, hash_only: bool = False, amount: int | None = 42_000):
    return issue_invoice(
        node_key=KEY.to_hex(),
        network="regtest",
        amount_msat=amount,
        preimage=PREIMAGE,
        payment_secret=b"\x03" * 32,
        description=description,
        description_hash_only=hash_only,
        expiry_s=900,
        created_at=1_800_000_000,
    )


def test_issued_invoices_are_real_signed_bolt11() -> None:
    issued = issue()
    decoded = bolt11.decode(issued.bolt11)
    assert decoded.payee == KEY.public_key.format().hex()  # signature recovers our key
    assert decoded.payment_hash == hashlib.sha256(PREIMAGE).hexdigest() == issued.payment_hash
    assert decoded.amount_msat == 42_000 and decoded.currency == "bcrt"
    assert (decoded.date, decoded.expiry) == (1_800_000_000, 900)
    assert issued.expires_at == 1_800_000_900
    assert decoded.payment_secret == "03" * 32 and decoded.description == "coffee"


def test_description_hash_only() -> None:
    request = json.dumps({"kind": 9734, "content": "x" * 2000})
    decoded = bolt11.decode(issue(request, hash_only=True).bolt11)
    assert decoded.description is None
    assert decoded.description_hash == hashlib.sha256(request.encode()).hexdigest()


def test_a_long_description_needs_the_hash() -> None:
    with pytest.raises(RpcFault, match="639 bytes"):
        issue("x" * 640)


def test_any_amount_invoice() -> None:
    assert "amount_msat" not in decode_invoice(issue(amount=None).bolt11)


def test_decode_matches_core_lightning_on_its_own_example() -> None:
    example = load_schema("decode")["examples"][1]
    assert decode_invoice(example["request"]["params"][0]) == example["response"]


def test_decode_of_our_invoice_fits_the_schema() -> None:
    result = decode_invoice("lightning:" + issue().bolt11)
    validator("decode", request=False).validate(result)
    assert result["features"] == "024100"  # var_onion, payment_secret, basic_mpp


@pytest.mark.parametrize("text", ["", "lnbc1", "hello", issue().bolt11[:-5] + "qqqqq"])
def test_decode_refuses_garbage(text: str) -> None:
    with pytest.raises(RpcFault) as caught:
        decode_invoice(text)
    assert caught.value.code == -32602
