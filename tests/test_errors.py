"""The one exception tree's retry decision, and that nobody decides it locally."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.errors import (
    ChargerOffline,
    ConfigError,
    LightningError,
    LightningUnavailable,
    LnurlError,
    NostrError,
    OcppError,
    PriceFeedUnavailable,
    PricingError,
    StoreError,
    is_retryable,
)


@pytest.mark.parametrize(
    ("error", "retryable"),
    [
        (LightningUnavailable("node gone"), True),
        (LightningError("refused", code=205), False),
        (ChargerOffline("cp-001 is not connected"), True),
        (OcppError("no answer in 30 s"), True),
        (OcppError("refused", "NotSupported"), False),
        (PriceFeedUnavailable("HTTP 503"), True),
        (PricingError("garbage"), False),
        (NostrError("relay dropped"), True),
        (TimeoutError(), True),
        (ConnectionResetError(), True),
        (LnurlError("amount out of bounds"), False),
        (StoreError("impossible row"), False),
        (ConfigError("relays.toml", "x", "bad"), False),
        (ValueError("bug"), False),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else str(v),
)
def test_what_is_worth_trying_again(error: BaseException, retryable: bool) -> None:
    assert is_retryable(error) is retryable


def test_every_retry_decision_asks_is_retryable() -> None:
    # No module decides "retry or give up" by the exception's type itself: an except
    # clause for the outage classes, or a check for a missing OCPP error code, goes
    # through errors.is_retryable instead.
    local = re.compile(
        r"except \(?(LightningUnavailable|PriceFeedUnavailable)\b"
        r"|isinstance\([^)]*(LightningUnavailable|PriceFeedUnavailable)"
        r"|\.code is None"
    )
    root = Path(__file__).resolve().parents[1] / "bot"
    found = [
        f"{path.relative_to(root.parent)}:{number}"
        for path in sorted(root.rglob("*.py"))
        if path.name != "errors.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if local.search(line)
    ]
    assert found == []
