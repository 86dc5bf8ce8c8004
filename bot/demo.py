"""``zapcharge demo``: a throw-away installation on embedded defaults, narrated."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from bot.app import serve
from bot.config import load_config
from bot.identity import NewCharger, create_identity

__all__ = ["run_demo", "write_demo_config"]


def write_demo_config(root: Path, *, ocpp_port: int = 0, http_port: int = 0) -> Path:
    """A relays.toml for a local installation under ``root``; returns its path."""
    config_path = root / "relays.toml"
    config_path.write_text(
        "[service]\n"
        f'public_url = "http://127.0.0.1:{http_port}"\n'
        'data_dir = "data"\nidentities_dir = "identities"\n\n'
        f'[ocpp]\nlisten = "127.0.0.1:{ocpp_port}"\n\n'
        f'[http]\nlisten = "127.0.0.1:{http_port}"\n\n'
        '[lightning]\nbackend = "simnode"\nlightning_dir = "lightning"\nnetwork = "regtest"\n',
        encoding="utf-8",
    )
    create_identity(
        root / "identities",
        NewCharger(
            id="cp-001",
            name="Demo harbour charger",
            lat=48.1372,
            lon=11.5756,
            address="Hafenstrasse 1, 80331 Munich, DE",
            max_power_w=11000,
        ),
        passphrase=None,
    )
    return config_path


async def run_demo() -> int:
    with tempfile.TemporaryDirectory(prefix="zapcharge-demo-") as tmp:
        config = load_config(write_demo_config(Path(tmp)), env={})
        charger = config.chargers[0]
        print(f"1. charger {charger.id} ({charger.name}) has nostr identity {charger.keys.npub}")
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(1.0, stop.set)
        await serve(config, stop)
        print("2. the bot started, stored its chargers and shut down cleanly")
    return 0
