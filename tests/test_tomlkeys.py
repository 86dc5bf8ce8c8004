from __future__ import annotations

from decimal import Decimal

import pytest

from bot.errors import ConfigError
from bot.tomlkeys import KeyReader


def reader(**data: object) -> KeyReader:
    return KeyReader("f.toml", "t.", data)


def test_required_and_default_values() -> None:
    keys = reader(a="x")
    assert keys.text("a") == "x"
    assert keys.text("b", "dflt") == "dflt"
    with pytest.raises(ConfigError, match=r"f.toml: t.c: missing"):
        keys.text("c")


def test_integer_bounds_name_the_key() -> None:
    keys = reader(n=5, b=True)
    assert keys.integer("n", minimum=5, maximum=5) == 5
    with pytest.raises(ConfigError, match=r"t.n: must be within 0..4, got 5"):
        keys.integer("n", maximum=4)
    with pytest.raises(ConfigError, match=r"t.n: must be at least 6, got 5"):
        keys.integer("n", minimum=6)
    with pytest.raises(ConfigError, match="expected an integer, got bool"):
        keys.integer("b")


def test_decimal_is_exact_and_checked() -> None:
    keys = reader(p=0.35, s="1.10", bad="x", inf=float("inf"), neg=-1)
    assert keys.decimal("p") == Decimal("0.35")
    assert keys.decimal("s") == Decimal("1.10")
    assert keys.decimal("neg") == Decimal(-1)  # no bound unless asked
    with pytest.raises(ConfigError, match="at least 0"):
        keys.decimal("neg", minimum=Decimal(0))
    with pytest.raises(ConfigError, match="expected a number"):
        keys.decimal("bad")
    with pytest.raises(ConfigError, match="finite"):
        keys.decimal("inf")


def test_seconds_url_and_unknown_keys() -> None:
    keys = reader(t=30, u="ftp://x", extra=1)
    assert keys.seconds("t", 10, minimum=1) == 30.0
    assert keys.seconds("missing", 10, minimum=1) == 10
    with pytest.raises(ConfigError, match="at least 60 seconds"):
        keys.seconds("t", 10, minimum=60)
    with pytest.raises(ConfigError, match="http"):
        keys.url("u")
    with pytest.raises(ConfigError, match=r"t.extra: unknown key"):
        keys.done()


def test_nested_tables_carry_their_path() -> None:
    keys = reader(sub={"x": 1}, arr=[{"y": "z"}])
    assert keys.table("sub").integer("x") == 1
    item = keys.tables("arr")[0]
    with pytest.raises(ConfigError, match=r"t.arr\[0\].y: expected an integer"):
        item.integer("y")
