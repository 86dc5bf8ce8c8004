from __future__ import annotations

from typing import Any

import pytest

from bot.errors import ZapInvalid
from bot.ports.lightning import Invoice, InvoiceStatus
from bot.receipts.checks import (
    choose_connector,
    confirm_payment,
    currency_of,
    recipient_of,
    requested_connector,
    since_for,
)

NOW = 1_800_000_000


class FakeReceipt:
    """The two fields confirm_payment reads, as a validated ZapReceipt has them."""

    def __init__(self, bolt11: str, amount_msat: int) -> None:
        self.invoice = type("Decoded", (), {"bolt11": bolt11})()
        self.amount_msat = amount_msat


def invoice(**changes: Any) -> Invoice:
    values: dict[str, Any] = {
        "label": "zapper-1",
        "bolt11": "lnbcrt50u1abc",
        "payment_hash": "00" * 32,
        "amount_msat": 5_000_000,
        "status": InvoiceStatus.PAID,
        "expires_at": NOW + 600,
        "paid_at": NOW - 5,
        "amount_received_msat": 5_000_000,
    }
    return Invoice(**{**values, **changes})


def confirm(inv: Invoice | None, amount: int = 5_000_000, bolt11: str = "LNBCRT50U1ABC") -> int:
    receipt: Any = FakeReceipt(bolt11, amount)
    return confirm_payment(receipt, inv, now=NOW, max_age_s=3600)


def test_a_paid_invoice_for_the_amount_confirms() -> None:
    assert confirm(invoice()) == NOW - 5


@pytest.mark.parametrize(
    ("inv", "amount", "bolt11", "code"),
    [
        (None, 5_000_000, "lnbcrt50u1abc", "unknown-invoice"),
        (invoice(), 5_000_000, "lnbcrt50u1other", "other-invoice"),
        (invoice(status=InvoiceStatus.UNPAID), 5_000_000, "lnbcrt50u1abc", "unpaid"),
        (invoice(status=InvoiceStatus.EXPIRED), 5_000_000, "lnbcrt50u1abc", "unpaid"),
        (invoice(), 6_000_000, "lnbcrt50u1abc", "amount-differs"),
        (invoice(amount_received_msat=4_000_000), 5_000_000, "lnbcrt50u1abc", "amount-differs"),
        (invoice(paid_at=NOW - 3601), 5_000_000, "lnbcrt50u1abc", "stale"),
    ],
)
def test_what_our_node_says_decides(
    inv: Invoice | None, amount: int, bolt11: str, code: str
) -> None:
    with pytest.raises(ZapInvalid) as info:
        confirm(inv, amount, bolt11)
    assert info.value.code == code


def test_since_is_a_margin_before_the_cursor_and_never_after_now() -> None:
    assert since_for(None, NOW, 600) == NOW - 600
    assert since_for(NOW - 100, NOW, 600) == NOW - 700
    assert since_for(NOW + 10_000, NOW, 600) == NOW - 600  # a receipt dated in the future


def test_recipient_is_the_p_tag_that_is_ours() -> None:
    ours = {"a" * 64}
    assert recipient_of('{"tags": [["p", "b"], ["p", "' + "a" * 64 + '"]]}', ours) == "a" * 64
    assert recipient_of('{"tags": [["p", "b"]]}', ours) is None
    assert recipient_of("not json", ours) is None
    assert recipient_of("[1]", ours) is None


def test_connectors() -> None:
    assert requested_connector("connector 2 please", [1, 2]) == 2
    assert requested_connector("Plug #2", [1, 2]) == 2
    assert requested_connector("#3", [1, 2]) is None
    assert requested_connector("thanks", [1, 2]) is None
    statuses = {1: "Charging", 2: "Available"}
    assert choose_connector([1, 2], None, statuses, held=set()) == (2, True)
    assert choose_connector([1, 2], None, statuses, held={2}) == (1, False)
    assert choose_connector([1, 2], 1, statuses, held=set()) == (1, False)
    assert choose_connector([1, 2], 2, {2: "Preparing"}, held=set()) == (2, True)


def test_currencies() -> None:
    assert [currency_of(n) for n in ("bitcoin", "regtest", "signet")] == ["bc", "bcrt", "tbs"]
