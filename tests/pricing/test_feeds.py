from __future__ import annotations

import logging

import pytest

from bot.errors import PricingError
from bot.pricing.feeds import BasisLog, Feed, FeedKey, load_json, redact_url


def parse(body: str, now: float) -> int:
    del now
    if not body.isdigit():
        raise PricingError("not digits")
    return int(body)


def feed() -> Feed[int]:
    return Feed(
        FeedKey("spot", "https://u:p@h.example.org:8443/x?token=s3cret"),
        parse,
        refresh_s=60,
        timeout_s=5,
    )


def test_urls_in_logs_lose_credentials_and_query() -> None:
    assert redact_url("https://u:p@h.example.org:8443/x?token=s3cret") == (
        "https://h.example.org:8443/x"
    )
    assert "s3cret" not in feed().label and "u:p" not in feed().label


def test_failures_keep_the_last_good_data(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    f = feed()
    assert f.accept("7", 100.0) == 7 and f.fresh
    with pytest.raises(PricingError):
        f.accept("garbage", 160.0)
    f.fail("HTTP 503", 220.0)
    assert f.data == 7 and not f.fresh and f.failures == 2 and f.failing_since == 160.0
    assert "failing since" in f.describe() and "HTTP 503" in f.describe()
    assert f.accept("8", 280.0) == 8 and f.fresh and f.failures == 0
    assert caplog.text.count("failed") == 1 and "works again after 2 failure(s)" in caplog.text
    assert "s3cret" not in caplog.text


def test_restored_data_is_not_fresh_until_fetched() -> None:
    f = feed()
    assert f.restore("5", 50.0, 100.0) and f.data == 5 and not f.fresh
    assert "not fetched since the restart" in f.describe()
    assert not feed().restore("junk", 50.0, 100.0)


def test_json_numbers_are_exact_and_nan_is_refused() -> None:
    assert str(load_json('{"a": 0.1}')["a"]) == "0.1"
    with pytest.raises(PricingError, match="Infinity"):
        load_json('{"a": Infinity}')


def test_basis_changes_are_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    basis = BasisLog(logging.getLogger("test.basis"))
    with caplog.at_level(logging.DEBUG, logger="test.basis"):
        for name in ("live", "live", "static fallback", "static fallback", "live"):
            basis.note(name, name)
    levels = [r.levelname for r in caplog.records]
    assert levels == ["DEBUG", "WARNING", "INFO"]
