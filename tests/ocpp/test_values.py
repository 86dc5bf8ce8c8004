"""Values out of range, found before a schema or SQLite meets them (bot.ocpp.values)."""

from __future__ import annotations

import pytest

from bot.ocpp.values import loads, storable, value_error


@pytest.mark.parametrize(
    ("payload", "where"),
    [
        ({"meterStart": 18446744073709551617}, "meterStart is outside the 32-bit"),
        ({"connectorId": -(2**31) - 1}, "connectorId is outside the 32-bit"),
        ({"a": [{"b": 2**31}]}, "a/0/b is outside the 32-bit"),
        ({"value": float("inf")}, "value is not a finite number"),
        ({"idTag": "\ud800"}, "idTag is not Unicode text"),
        ({"x": ["ok", "a\udfffb"]}, "x/1 is not Unicode text"),
        ({"\udc00": 1}, "payload has a key that is not Unicode text"),
    ],
)
def test_values_out_of_range_are_named(payload: object, where: str) -> None:
    error = value_error(payload)
    assert error is not None and error.startswith(where), error


def test_values_in_range_pass_even_deeply_nested() -> None:
    assert value_error({"a": 2**31 - 1, "b": -(2**31), "c": 1.5, "d": "é😀", "e": True}) is None
    deep: object = 1
    for _ in range(5000):  # far deeper than Python's recursion limit
        deep = [deep]
    assert value_error(deep) is None


@pytest.mark.parametrize("text", ["NaN", "[Infinity]", '{"a": -Infinity}'])
def test_the_non_json_constants_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not JSON"):
        loads(text)


def test_storable_escapes_only_lone_surrogates() -> None:
    assert storable("a\ud800b") == "a\\ud800b"
    assert storable("é😀") == "é😀"
    storable("a\ud800b").encode("utf-8")  # does not raise
