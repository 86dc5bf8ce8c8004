"""Test support for the OCPP tests: a recording ChargerEvents, a raw OCPP-J client and a
running central system. The events recorder stands in for the session layer (the seam)."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from bot.config import Config, ListenAddress, load_config
from bot.ocpp import CentralSystem
from bot.ports import MeterSample
from bot.store import Database
from tests.helpers import scaled, write_config

__all__ = ["RawCharger", "RecordingEvents", "Site", "running_central", "wait_until"]


async def wait_until(predicate: Callable[[], bool], within: float = 5.0) -> None:
    deadline = time.monotonic() + scaled(within)
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


@dataclass
class RecordingEvents:
    """ChargerEvents that records every call; ``tags`` are the idTags it authorizes."""

    tags: set[str] = field(default_factory=set)
    calls: list[tuple[str, Any]] = field(default_factory=list)
    fail_next: set[str] = field(default_factory=set)

    def _note(self, name: str, value: Any) -> None:
        self.calls.append((name, value))
        if name in self.fail_next:
            self.fail_next.discard(name)
            raise RuntimeError(f"{name} failed on purpose")

    def named(self, name: str) -> list[Any]:
        return [value for n, value in self.calls if n == name]

    async def charger_online(self, charger_id: str, online: bool) -> None:
        self._note("charger_online", (charger_id, online))

    async def connector_status(
        self, charger_id: str, connector_id: int, status: str, error_code: str
    ) -> None:
        self._note("connector_status", (charger_id, connector_id, status, error_code))

    async def authorize_start(self, charger_id: str, connector_id: int, id_tag: str) -> bool:
        self._note("authorize_start", (charger_id, connector_id, id_tag))
        return id_tag in self.tags

    async def transaction_started(
        self,
        charger_id: str,
        *,
        connector_id: int,
        id_tag: str,
        transaction_id: int,
        meter_start_wh: int,
        timestamp: str,
    ) -> None:
        self._note(
            "transaction_started",
            {
                "charger_id": charger_id,
                "connector_id": connector_id,
                "id_tag": id_tag,
                "transaction_id": transaction_id,
                "meter_start_wh": meter_start_wh,
                "timestamp": timestamp,
            },
        )

    async def meter_values(
        self,
        charger_id: str,
        connector_id: int,
        transaction_id: int | None,
        samples: Sequence[MeterSample],
    ) -> None:
        self._note("meter_values", (charger_id, connector_id, transaction_id, list(samples)))

    async def transaction_stopped(
        self,
        charger_id: str,
        *,
        transaction_id: int,
        meter_stop_wh: int,
        reason: str,
        timestamp: str,
        samples: Sequence[MeterSample],
    ) -> None:
        self._note(
            "transaction_stopped",
            {
                "charger_id": charger_id,
                "transaction_id": transaction_id,
                "meter_stop_wh": meter_stop_wh,
                "reason": reason,
                "timestamp": timestamp,
                "samples": list(samples),
            },
        )


def basic_auth(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


class RawCharger:
    """A bare OCPP-J client: sends frames as text and reads what comes back."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self._ids = 0

    async def send_text(self, text: str) -> None:
        await self.ws.send(text)

    async def receive(self) -> list[Any]:
        reply = await asyncio.wait_for(self.ws.recv(), scaled(5))
        message = json.loads(reply)
        assert isinstance(message, list)
        return message

    async def call(self, action: str, payload: dict[str, Any]) -> list[Any]:
        """Send a CALL and return the whole reply frame."""
        self._ids += 1
        unique_id = f"c{self._ids}"
        await self.ws.send(json.dumps([2, unique_id, action, payload]))
        reply = await self.receive()
        assert reply[1] == unique_id, reply
        return reply

    async def ok(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        reply = await self.call(action, payload)
        assert reply[0] == 3, reply
        result: dict[str, Any] = reply[2]
        return result


@dataclass
class Site:
    """A running central system with its config, database and recorded events."""

    config: Config
    db: Database
    events: RecordingEvents
    central: CentralSystem
    port: int
    password: str

    def password_of(self, charger_id: str) -> str:
        charger = self.config.charger(charger_id)
        assert charger is not None
        return charger.ocpp_password

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ocpp/"

    @asynccontextmanager
    async def raw(
        self, charger_id: str = "cp-001", subprotocol: str = "ocpp1.6", **kwargs: Any
    ) -> AsyncIterator[RawCharger]:
        headers = basic_auth(charger_id, self.password_of(charger_id))
        async with connect(
            self.url + charger_id, subprotocols=[subprotocol], additional_headers=headers, **kwargs
        ) as ws:  # type: ignore[list-item]
            yield RawCharger(ws)


@asynccontextmanager
async def running_central(
    root: Path,
    *,
    chargers: tuple[str, ...] = ("cp-001",),
    events: RecordingEvents | None = None,
    call_timeout: float = 5.0,
    db: Database | None = None,
    port: int = 0,
    connectors: int = 2,
    **kwargs: Any,
) -> AsyncIterator[Site]:
    """Start a CentralSystem on 127.0.0.1 (port 0: any) with real SQLite under ``root``;
    unless ``root`` has a config already, each charger has ``connectors`` connectors."""
    path = root / "relays.toml"
    if not path.exists():
        write_config(root, chargers=chargers, connectors=connectors)
    config = load_config(path, env={})
    listen = ListenAddress("127.0.0.1", port)
    config = replace(config, ocpp=replace(config.ocpp, listen=listen))
    own_db = db is None
    database = db or await Database.open(config.service.database_path)
    events = events or RecordingEvents()
    central = CentralSystem(config, database, events, call_timeout=scaled(call_timeout), **kwargs)
    task = asyncio.create_task(central.run())
    try:
        port = await asyncio.wait_for(central.started(), scaled(5))
        password = config.chargers[0].ocpp_password
        yield Site(config, database, events, central, port, password)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        if own_db:
            await database.close()
