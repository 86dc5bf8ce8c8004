"""Reading one TOML table of a config file: typed getters that name the file and the key.

Every config parser (``bot.config``, ``bot.config.pricing``) reads through
:class:`KeyReader`, so every mistake is reported the same way: ``file: dotted.key: what``,
and a key nobody read is an error ("unknown key"), so a typo cannot fall back to a default.

``done()`` on a table also checks every table read through it (:meth:`KeyReader.table`,
:meth:`KeyReader.tables`), so a parser that forgets a sub-table's ``done()`` still refuses
its unknown keys: ``listne = ...`` in ``[http]`` once passed and bound every interface.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bot.errors import ConfigError

__all__ = ["KeyReader", "read_toml", "resolve_path", "type_name"]


def type_name(value: Any) -> str:
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return type(value).__name__


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(str(path), "", "file does not exist") from None
    except OSError as exc:
        raise ConfigError(str(path), "", f"cannot read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), "", f"not valid TOML: {exc}") from None


def resolve_path(base: Path, value: str) -> Path:
    """``value`` relative to ``base`` (the folder of the file that names it), ``~`` expanded."""
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


class KeyReader:
    """One TOML table being read. ``default=...`` (the default) means the key is required."""

    def __init__(self, file: str, prefix: str, data: Mapping[str, Any]) -> None:
        self.file, self.prefix, self.data = file, prefix, data
        self.seen: set[str] = set()
        self.children: list[KeyReader] = []  # the tables read through this one

    def key(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def fail(self, name: str, message: str) -> ConfigError:
        return ConfigError(self.file, self.key(name), message)

    def raw(self, name: str, default: Any = ...) -> Any:
        self.seen.add(name)
        if name in self.data:
            return self.data[name]
        if default is ...:
            raise self.fail(name, "missing")
        return default

    def text(self, name: str, default: Any = ...) -> Any:
        value = self.raw(name, default)
        if not isinstance(value, str) and value is not default:
            raise self.fail(name, f"expected a string, got {type_name(value)}")
        return value

    def flag(self, name: str, default: Any = ...) -> Any:
        value = self.raw(name, default)
        if not isinstance(value, bool) and value is not default:
            raise self.fail(name, f"expected true or false, got {type_name(value)}")
        return value

    def integer(
        self, name: str, default: Any = ..., *, minimum: int = 0, maximum: int = 2**53
    ) -> Any:
        value = self.raw(name, default)
        if value is default:
            return value
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(name, f"expected an integer, got {type_name(value)}")
        if not minimum <= value <= maximum:
            bounds = f"at least {minimum}" if maximum == 2**53 else f"within {minimum}..{maximum}"
            raise self.fail(name, f"must be {bounds}, got {value}")
        return value

    def decimal(self, name: str, default: Any = ..., *, minimum: Decimal | None = None) -> Any:
        """An exact Decimal from a TOML number or numeric string."""
        value = self.raw(name, default)
        if value is default:
            return value
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise self.fail(name, f"expected a number, got {type_name(value)}")
        try:
            # repr() of a TOML float is its shortest exact spelling: 0.35 stays 0.35.
            amount = Decimal(value if isinstance(value, str) else repr(value))
        except InvalidOperation:
            raise self.fail(name, f"expected a number, got {value!r}") from None
        if not amount.is_finite():
            raise self.fail(name, "must be a finite number")
        if minimum is not None and amount < minimum:
            raise self.fail(name, f"must be at least {minimum}, got {value!r}")
        return amount

    def number(self, name: str) -> float:
        value = self.raw(name)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(name, f"expected a number, got {type_name(value)}")
        if not math.isfinite(value):
            raise self.fail(name, "must be a finite number")
        return float(value)

    def seconds(self, name: str, default: float, *, minimum: float) -> float:
        value = self.decimal(name, None)
        if value is None:
            return default
        if value < Decimal(str(minimum)):
            raise self.fail(name, f"must be at least {minimum} seconds, got {value}")
        return float(value)

    def url(self, name: str) -> str:
        value = self.text(name)
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise self.fail(name, f"expected an http(s) URL, got {value!r}")
        return str(value)

    def table(self, name: str, *, required: bool = False) -> KeyReader:
        value = self.raw(name, ... if required else {})
        if not isinstance(value, dict):
            raise self.fail(name, f"expected a table [{self.key(name)}], got {type_name(value)}")
        child = KeyReader(self.file, f"{self.key(name)}.", value)
        self.children.append(child)
        return child

    def tables(self, name: str) -> list[KeyReader]:
        value = self.raw(name, [])
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise self.fail(name, f"expected an array of tables [[{self.key(name)}]]")
        children = [KeyReader(self.file, f"{self.key(name)}[{i}].", v) for i, v in enumerate(value)]
        self.children.extend(children)
        return children

    def done(self) -> None:
        """Refuse any key not read, here and in every table read through this one."""
        unknown = sorted(set(self.data) - self.seen)
        if unknown:
            raise self.fail(unknown[0], "unknown key")
        for child in self.children:
            child.done()
