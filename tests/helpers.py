"""Shared test helpers: timeouts that scale, and small config builders."""

from __future__ import annotations

import os
from pathlib import Path

from bot.identity import NewCharger, create_identity

__all__ = ["TIMEOUT_FACTOR", "scaled", "write_config"]

# Slow or shared machines: ZAPCHARGE_TEST_TIMEOUT_FACTOR=3 triples every test timeout.
TIMEOUT_FACTOR = float(os.environ.get("ZAPCHARGE_TEST_TIMEOUT_FACTOR", "1"))


def scaled(seconds: float) -> float:
    return seconds * TIMEOUT_FACTOR


def write_config(
    root: Path, *, chargers: tuple[str, ...] = ("cp-001",), extra: str = "", connectors: int = 1
) -> Path:
    """A valid relays.toml under ``root`` with one identity per charger id, each with
    ``connectors`` Type2 connectors of 22 kW (ids 1..N)."""
    path = root / "relays.toml"
    path.write_text(
        '[[relay]]\nurl = "ws://127.0.0.1:7777"\n\n'
        '[service]\npublic_url = "https://charge.example.org"\ndata_dir = "data"\n'
        'identities_dir = "identities"\n\n'
        '[ocpp]\nlisten = "127.0.0.1:0"\n\n[http]\nlisten = "127.0.0.1:0"\n\n'
        '[lightning]\nbackend = "simnode"\nlightning_dir = "ln"\n' + extra,
        encoding="utf-8",
    )
    for charger_id in chargers:
        create_identity(
            root / "identities",
            NewCharger(id=charger_id, name=f"Charger {charger_id}", lat=48.1372, lon=11.5756),
            passphrase=None,
        )
        more = "".join(
            f'[[connector]]\nid = {n}\ntype = "Type2"\nmax_power_w = 22000\n\n'
            for n in range(2, connectors + 1)
        )
        identity = root / "identities" / f"{charger_id}.toml"
        text = identity.read_text(encoding="utf-8")
        identity.write_text(text.replace("\n[tariff]", f"\n{more}[tariff]", 1), encoding="utf-8")
    return path
