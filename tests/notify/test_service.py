"""The notice service on a real SQLite store, the charger states written as the OCPP side
writes them: bounds per driver, the answer for a free charger, messages of a tick."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bot.app import register_chargers
from bot.config import load_config
from bot.notify.service import NotifyService
from bot.store import Database
from bot.store.chargers import ChargerStore, ConnectorState
from tests.helpers import write_config


class Inbox:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str]] = []

    async def send_dm(
        self, charger_id: str, recipient_pubkey: str, text: str, fallback_relays: Sequence[str] = ()
    ) -> None:
        self.sent.append((charger_id, recipient_pubkey, text))

    async def lightning_address_of(self, pubkey: str) -> str | None:
        return None


async def _service(tmp_path: Path, now: list[float]) -> tuple[NotifyService, Database, Inbox]:
    config = load_config(
        write_config(
            tmp_path,
            chargers=("cp-001", "cp-002", "cp-003"),
            extra="\n[drivers]\nnotify_max_per_driver = 2\nnotify_max_hours = 1\n",
        ),
        env={},
    )
    config.service.database_path.parent.mkdir(parents=True, exist_ok=True)
    db = await Database.open(config.service.database_path)
    await register_chargers(config, db)
    inbox = Inbox()
    return NotifyService(config, db, messenger=inbox, clock=lambda: now[0]), db, inbox


async def _available(db: Database, charger_id: str, at: float) -> None:
    chargers = ChargerStore(db)
    await chargers.connected(charger_id, "pk", at)
    await chargers.set_status(charger_id, ConnectorState(1, "Available", "NoError", None, at, at))


async def test_bounds_per_driver_and_the_free_now_answer(tmp_path: Path) -> None:
    now = [1_000.0]
    service, db, inbox = await _service(tmp_path, now)
    try:
        assert (await service.ask("cp-001", "d1")).startswith("OK: I will DM you once")
        assert (await service.ask("cp-002", "d1")).startswith("OK: I will DM you once")
        assert await service.ask("cp-003", "d1") == (
            "You already wait for 2 chargers; reply 'notify off' at one of them first."
        )
        assert (await service.ask("cp-003", "d2")).startswith("OK")  # the limit is per driver
        await _available(db, "cp-003", now[0])
        assert (await service.ask("cp-003", "d3")).startswith("Charger cp-003 is free now.")
        assert (await service.off("cp-002", "d1")).startswith("OK: no notice")
        assert (await service.ask("cp-003", "d1")).startswith("Charger cp-003 is free now.")
        await service.tick()
        assert inbox.sent == [
            (
                "cp-003",
                "d2",
                "Charger cp-003 is free: connector 1 is available. Price 250 sat/kWh. Zap this "
                "charger, or pay cp-003@charge.example.org from any Lightning wallet, to start.",
            )
        ]
        now[0] += 3600.0  # notify_max_hours later: cp-001 never became free
        await service.tick()
        assert inbox.sent[-1] == (
            "cp-001",
            "d1",
            "Charger cp-001 did not become free within 1 h; I stopped waiting.",
        )
        assert len(inbox.sent) == 2
    finally:
        await db.close()
