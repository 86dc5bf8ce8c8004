"""A running console for tests: the session rig (real SQLite, the real central system,
simulated chargers over websockets, the real SessionService) behind the real HTTP server,
with one operator key and a bearer token file."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import aiohttp

from bot.config import ListenAddress
from bot.config.console import ConsoleConfig
from bot.console.build import build_console
from bot.console.web import Console
from bot.lnurl.server import HttpServer
from tests.console.signer import Signer
from tests.helpers import scaled
from tests.sessions.support import Rig, rig

__all__ = ["ConsoleRig", "console_rig"]


@dataclass
class ConsoleRig:
    rig: Rig
    console: Console
    base: str  # http://127.0.0.1:PORT
    operator: Signer
    token: str
    refreshed: list[str]

    def url(self, path: str) -> str:
        return self.base + path

    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def nip98(self, path: str, method: str = "GET", **options: Any) -> dict[str, str]:
        return {"Authorization": self.operator.header(self.url(path), method, **options)}


class Refresher:
    """The nostr side's EventsRefresh, reduced to what it was asked (no relays here)."""

    def __init__(self, asked: list[str]) -> None:
        self.asked = asked

    async def refresh_charger(self, charger_id: str) -> int:
        self.asked.append(charger_id)
        return 4


@asynccontextmanager
async def console_rig(tmp_path: Path, **rig_options: Any) -> AsyncIterator[ConsoleRig]:
    operator = Signer()
    token = secrets.token_hex(32)
    token_file = tmp_path / "console.token"
    token_file.write_text(token + "\n", encoding="utf-8")
    os.chmod(token_file, 0o600)
    async with rig(tmp_path, **rig_options) as r:
        server_port = _free_port()
        public = f"http://127.0.0.1:{server_port}"
        config = replace(
            r.config,
            service=replace(r.config.service, public_url=public),
            console=ConsoleConfig((operator.pubkey,), token_file, token, 30),
        )
        asked: list[str] = []
        console = build_console(
            config, r.db, sessions=r.inbox, control=r.central, refresher=Refresher(asked)
        )
        console.live_interval_s = 0.2
        server = HttpServer(ListenAddress("127.0.0.1", server_port), [console])
        task = asyncio.create_task(server.run())
        try:
            await asyncio.wait_for(server.started(), scaled(5))
            yield ConsoleRig(r, console, public, operator, token, asked)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


def _free_port() -> int:
    from bot.nostr.relay import free_port

    return free_port()


@asynccontextmanager
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as http:
        yield http
