"""Driver features: what a waiting notice costs (``notify``), measured side by side.

A tick of the notice service reads every waiting request and, per charger with waiters,
its stored status; with all chargers busy nobody is told, so the tick is pure reading.
Ratios compare a tick with 1000 waiting drivers against a tick with none, in one run.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from bot.app import register_chargers
from bot.config import load_config
from bot.identity import NewCharger, create_identity
from bot.notify.service import NotifyService
from bot.store import Database

CHARGERS = 100
WAITING_CHARGERS = 10
DRIVERS = 100  # each waits for WAITING_CHARGERS chargers: 1000 waiting requests
TICKS = 5


def _config(root: Path) -> Path:
    path = root / "relays.toml"
    path.write_text(
        '[[relay]]\nurl = "ws://127.0.0.1:7777"\n\n'
        '[service]\npublic_url = "https://charge.example.org"\n\n'
        '[lightning]\nbackend = "simnode"\nlightning_dir = "ln"\n\n'
        f"[drivers]\nnotify_max_per_driver = {WAITING_CHARGERS}\n",
        encoding="utf-8",
    )
    for n in range(CHARGERS):
        charger = NewCharger(id=f"cp-{n:03d}", name=f"Charger {n}", lat=48.1, lon=11.5)
        create_identity(root / "identities", charger, passphrase=None)
    return path


async def _tick_ms(service: NotifyService) -> float:
    started = time.perf_counter()
    for _ in range(TICKS):
        await service.tick()
    return (time.perf_counter() - started) * 1000 / TICKS


async def run() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        config = load_config(_config(Path(tmp)), env={})
        config.service.database_path.parent.mkdir(parents=True, exist_ok=True)
        db = await Database.open(config.service.database_path)
        try:
            await register_chargers(config, db)
            service = NotifyService(config, db)
            idle = await _tick_ms(service)
            started = time.perf_counter()
            for d in range(DRIVERS):
                for c in range(WAITING_CHARGERS):
                    await service.ask(f"cp-{c:03d}", f"driver-{d:03d}")
            asks = DRIVERS * WAITING_CHARGERS
            ask_ms = (time.perf_counter() - started) * 1000 / asks
            busy = await _tick_ms(service)
        finally:
            await db.close()
    print(
        f"notify: {ask_ms:.2f} ms per 'notify' (checks, limit, insert); tick with {asks} "
        f"waiting over {WAITING_CHARGERS} busy chargers {busy:.1f} ms, with none {idle:.2f} ms "
        f"(ratio {busy / max(idle, 1e-6):.0f}x); {CHARGERS} chargers configured"
    )
