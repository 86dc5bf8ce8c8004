"""Every table of every config file refuses a key it does not know (issue 13).

The tables are not listed here: the test loads a config that uses every kind of table
while recording each :class:`~bot.tomlkeys.KeyReader` the parsers open, then, for each
recorded table (also those the parser opened but the sample leaves out, such as an empty
``[dm]``), adds one unknown key to a copy of that file and expects the ConfigError to
name exactly that key. A table added later is covered as soon as the sample reaches it;
a parser that opens a reader and never checks it fails the first test.
"""

from __future__ import annotations

import copy
import re
import shutil
import tomllib
from pathlib import Path
from typing import Any

import pytest

from bot.config import load_config
from bot.errors import ConfigError
from bot.tomlkeys import KeyReader
from tests.helpers import write_config

UNKNOWN = "zz_not_a_key"

SERVICE_TABLES: dict[str, Any] = {
    "ocpp": {
        "listen": "127.0.0.1:0",
        "tls_cert": "cert.pem",
        "tls_key": "key.pem",
        "heartbeat_interval_s": 60,
    },
    "dm": {"nip04_fallback": True},
    "sessions": {"start_timeout_s": 60},
}
PRICINGS: dict[str, dict[str, Any]] = {
    "cp-static": {"kind": "static", "price_msat_per_kwh": 1000},
    "cp-schedule": {
        "kind": "schedule",
        "timezone": "UTC",
        "window": [{"start": "09:00", "end": "11:00", "price_msat_per_kwh": 100}],
    },
    "cp-spot": {
        "kind": "spot",
        "url": "http://127.0.0.1:9/spot",
        "floor_per_kwh": 0.1,
        "cap_per_kwh": 1,
        "rate_url": "http://127.0.0.1:9/rate",
    },
    "cp-green": {
        "kind": "green",
        "url": "http://127.0.0.1:9/green",
        "signer": "0x" + "11" * 20,
        "postcode": "80331",
    },
}
ZAPPER = {"lightning_address": "cp@zapper.example", "pin_from_address": True}


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return repr(value)


def dump_toml(data: dict[str, Any], prefix: str = "") -> str:
    """Just enough TOML for config files: scalars, arrays, tables, arrays of tables."""
    scalars = {k: v for k, v in data.items() if not _is_table(v) and not _is_tables(v)}
    lines = [f"{k} = {_toml_value(v)}" for k, v in scalars.items()]
    for key, value in data.items():
        name = f"{prefix}{key}"
        if _is_table(value):
            lines += ["", f"[{name}]", dump_toml(value, f"{name}.")]
        elif _is_tables(value):
            for item in value:
                lines += ["", f"[[{name}]]", dump_toml(item, f"{name}.")]
    return "\n".join(lines) + "\n"


def _is_table(value: Any) -> bool:
    return isinstance(value, dict)


def _is_tables(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def sample(root: Path) -> Path:
    """A config using every kind of table there is (see the module docstring)."""
    root.mkdir(parents=True, exist_ok=True)
    config = write_config(root, chargers=tuple(PRICINGS), connectors=2)
    config.write_text(dump_toml(tomllib.loads(config.read_text()) | SERVICE_TABLES))
    for name in ("cert.pem", "key.pem"):
        (root / name).write_text("not used before the server starts\n")
    for charger_id, pricing in PRICINGS.items():
        path = root / "identities" / f"{charger_id}.toml"
        data = tomllib.loads(path.read_text())
        data["pricing"] = pricing
        if charger_id == "cp-static":
            data["zapper"] = ZAPPER
        if charger_id == "cp-spot":  # the fiat form of [tariff]
            data["tariff"] = {
                "currency": "EUR",
                "fiat_price_per_kwh": 0.35,
                "msat_per_fiat_unit": 1_600_000,
            }
        path.write_text(dump_toml(data))
    return config


class Recorded:
    def __init__(self) -> None:
        self.readers: list[KeyReader] = []
        self.checked: set[int] = set()


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> Recorded:
    record = Recorded()
    init, done = KeyReader.__init__, KeyReader.done

    def recording_init(self: KeyReader, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        record.readers.append(self)

    def recording_done(self: KeyReader) -> None:
        record.checked.add(id(self))
        done(self)

    monkeypatch.setattr(KeyReader, "__init__", recording_init)
    monkeypatch.setattr(KeyReader, "done", recording_done)
    return record


def _path_of(prefix: str) -> list[str | int]:
    """``"pricing.window[0]."`` -> ``["pricing", "window", 0]``."""
    steps: list[str | int] = []
    for part in prefix.rstrip(".").split(".") if prefix else []:
        name, *indexes = re.split(r"\[(\d+)\]", part)
        steps.append(name)
        steps += [int(i) for i in indexes if i]
    return steps


def _with_unknown_key(data: dict[str, Any], prefix: str) -> dict[str, Any]:
    changed = copy.deepcopy(data)
    table: Any = changed
    for step in _path_of(prefix):
        table = table[step] if isinstance(step, int) else table.setdefault(step, {})
    table[UNKNOWN] = 1
    return changed


def test_the_sample_reaches_every_table_and_each_is_checked(
    tmp_path: Path, recorded: Recorded
) -> None:
    config = load_config(sample(tmp_path), env={})
    assert len(config.chargers) == len(PRICINGS)
    tables = {(Path(r.file).name, r.prefix) for r in recorded.readers}
    # The parsers' own tables, as they opened them (not a list kept here): at least these.
    assert {
        ("relays.toml", "http."),
        ("relays.toml", "dm."),
        ("relays.toml", "sessions."),
        ("relays.toml", "relay[0]."),
        ("cp-schedule.toml", "pricing.window[0]."),
        ("cp-static.toml", "zapper."),
        ("cp-spot.toml", "tariff."),
    } <= tables
    unchecked = [(r.file, r.prefix) for r in recorded.readers if id(r) not in recorded.checked]
    assert unchecked == [], "a parser opened these tables and never refused unknown keys"


def test_every_table_refuses_an_unknown_key(tmp_path: Path, recorded: Recorded) -> None:
    original = tmp_path / "original"
    config_path = sample(original)
    load_config(config_path, env={})
    tables = sorted({(r.file, r.prefix) for r in recorded.readers})
    assert len(tables) >= 20
    for n, (file, prefix) in enumerate(tables):
        root = tmp_path / f"case-{n}"
        shutil.copytree(original, root)
        target = root / Path(file).relative_to(original.resolve())
        target.write_text(dump_toml(_with_unknown_key(tomllib.loads(target.read_text()), prefix)))
        with pytest.raises(ConfigError) as info:
            load_config(root / "relays.toml", env={})
        assert (Path(info.value.file).name, info.value.key) == (
            target.name,
            f"{prefix}{UNKNOWN}",
        ), (file, prefix, str(info.value))
        assert "unknown key" in info.value.message
