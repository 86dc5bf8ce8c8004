"""`zapcharge reload` and SIGHUP on a running `zapcharge run`: add, break, remove chargers.

The bot runs as its own process with a console token. Chargers are simulated OCPP 1.6
charge points over real websockets; identities are written and removed as an operator
would, with `zapcharge identity new` and `rm`.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.app import register_chargers
from bot.config import load_config
from bot.identity import NewCharger, create_identity
from bot.nostr.relay import free_port
from bot.ocpp.simcharger import SimCharger, SimSettings
from bot.sessions.machine import Event, State
from bot.sessions.records import SessionRecords
from bot.sessions.tariff import make_quote
from bot.store import Database
from tests.helpers import scaled, write_config

pytestmark = pytest.mark.slow

TOKEN = "c" * 64


def _configure(root: Path) -> tuple[Path, int, int]:
    path = write_config(root)
    ocpp, http = free_port(), free_port()
    text = path.read_text(encoding="utf-8")
    text = text.replace('[ocpp]\nlisten = "127.0.0.1:0"', f'[ocpp]\nlisten = "127.0.0.1:{ocpp}"')
    text = text.replace('[http]\nlisten = "127.0.0.1:0"', f'[http]\nlisten = "127.0.0.1:{http}"')
    text = text.replace("https://charge.example.org", f"http://127.0.0.1:{http}")
    text += '\n[console]\ntoken_file = "console.token"\n'
    text += "\n[sessions]\nstart_timeout_s = 30\nstop_timeout_s = 30\nsample_interval_s = 5\n"
    path.write_text(text, encoding="utf-8")
    token = root / "console.token"
    token.write_text(TOKEN, encoding="utf-8")
    token.chmod(0o600)
    return path, ocpp, http


@asynccontextmanager
async def _bot(config: Path, http: int) -> AsyncIterator[subprocess.Popen[bytes]]:
    with (config.parent / "bot.log").open("ab") as log:
        process = subprocess.Popen(  # noqa: ASYNC220 -- our own CLI; Popen returns at once
            [sys.executable, "-m", "bot", "--config", str(config), "run"],
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        try:
            await _until(lambda: _healthy(http), 30, "the bot's HTTP server")
            yield process
        finally:
            process.send_signal(signal.SIGTERM)
            await asyncio.to_thread(process.wait, scaled(20))


async def _until(probe: Any, within: float, what: str) -> Any:
    deadline = time.monotonic() + scaled(within)
    while True:
        value = await probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not in time")
        await asyncio.sleep(0.1)


async def _healthy(port: int) -> bool:
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{port}/healthz") as answer,
        ):
            return answer.status == 200
    except aiohttp.ClientError:
        return False


async def _api(port: int, path: str) -> Any:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{port}{path}", headers=headers) as answer,
    ):
        assert answer.status == 200, await answer.text()
        return await answer.json()


async def _fleet(port: int) -> dict[str, dict[str, Any]]:
    return {c["id"]: c for c in (await _api(port, "/console/api/fleet"))["chargers"]}


async def _offer(port: int, charger_id: str) -> int:
    url = f"http://127.0.0.1:{port}/.well-known/lnurlp/{charger_id}"
    async with aiohttp.ClientSession() as http, http.get(url) as answer:
        body = await answer.json(content_type=None)
        return answer.status if body.get("status") != "ERROR" else 404


def _reload(config: Path) -> tuple[int, str]:
    done = subprocess.run(
        [sys.executable, "-m", "bot", "--config", str(config), "reload"],
        capture_output=True,
        text=True,
        timeout=scaled(60),
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


async def _charging_session(config_path: Path, charger_id: str) -> str:
    """A paid session written as the pay side leaves it; the running bot starts it."""
    config = load_config(config_path)
    db = await Database.open(config.service.database_path)
    try:
        await register_chargers(config, db)
        store = SessionRecords(db)
        charger = next(c for c in config.chargers if c.id == charger_id)
        session = await store.create(
            charger.id,
            1,
            make_quote(charger.tariff, time.time()),
            payer_pubkey=None,
            payment_hash="e" * 64,
        )
        await store.apply(session.id, State.QUOTED, Event.INVOICE_PAID, paid_msat=5_000_000)
        return session.id
    finally:
        await db.close()


async def _session_state(config_path: Path, session_id: str) -> str:
    config = load_config(config_path)
    db = await Database.open(config.service.database_path)
    try:
        return (await SessionRecords(db).load(session_id)).state.value
    finally:
        await db.close()


def _identity(config: Path, charger_id: str) -> ChargerSecrets:
    directory = config.parent / "identities"
    create_identity(directory, NewCharger(id=charger_id, name=charger_id, lat=1, lon=2), None)
    charger = load_config(config).charger(charger_id)
    assert charger is not None
    return ChargerSecrets(charger_id, charger.ocpp_password)


class ChargerSecrets:
    def __init__(self, charger_id: str, password: str) -> None:
        self.id, self.password = charger_id, password


async def _sim(stack: AsyncExitStack, ocpp: int, charger_id: str, password: str) -> SimCharger:
    sim = SimCharger(
        SimSettings(
            f"ws://127.0.0.1:{ocpp}/ocpp",
            charger_id,
            password,
            clock_speed=20.0,
            sample_interval_s=30,
            reconnect_delay_s=0.2,
        )
    )
    task = asyncio.create_task(sim.run())

    async def stop() -> None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    stack.push_async_callback(stop)
    return sim


async def test_reload_adds_refuses_a_broken_file_and_retires_a_removed_charger(
    tmp_path: Path,
) -> None:
    config, ocpp, http = _configure(tmp_path)
    first = load_config(config).charger("cp-001")
    assert first is not None
    async with _bot(config, http) as process, AsyncExitStack() as stack:
        sim1 = await _sim(stack, ocpp, "cp-001", first.ocpp_password)
        await _until(lambda: _online(http, "cp-001"), 20, "cp-001 online")

        # Add a charger: nothing is restarted, and it is served at once.
        second = _identity(config, "cp-002")
        assert await _offer(http, "cp-002") == 404
        code, out = await asyncio.to_thread(_reload, config)
        assert code == 0, out
        assert "reloaded: added: cp-002" in out
        assert await _offer(http, "cp-002") == 200
        await _sim(stack, ocpp, second.id, second.password)
        await _until(lambda: _online(http, "cp-002"), 20, "cp-002 online")
        # Its connectors are known to the OCPP side too: its status is taken, not refused.
        await _until(lambda: _status(http, "cp-002", "Available"), 20, "cp-002 Available")
        assert sim1.boots == 1  # the first charger's connection never dropped

        # A broken identity file: the reload says why and changes nothing.
        broken = tmp_path / "identities" / "cp-003.toml"
        broken.write_text('id = "cp-003"\nlat = "north"\n', encoding="utf-8")
        code, out = await asyncio.to_thread(_reload, config)
        assert code == 1
        assert "nothing changed" in out and "cp-003.toml" in out
        assert set(await _fleet(http)) == {"cp-001", "cp-002"}
        broken.unlink()

        # Remove a charger during a session: no new sessions, the running one finishes.
        session_id = await _charging_session(config, "cp-001")
        await _until(lambda: _state_is(config, session_id, "charging"), 30, "the session charging")
        for name in ("cp-001.toml", "cp-001.key"):
            (tmp_path / "identities" / name).unlink()
        code, out = await asyncio.to_thread(_reload, config)
        assert code == 0 and "removed (finishing their sessions): cp-001" in out, out
        fleet = await _fleet(http)
        assert fleet["cp-001"]["accepting"] is False and fleet["cp-001"]["online"] is True
        assert await _offer(http, "cp-001") == 404  # no new invoice for a removed charger
        assert await _session_state(config, session_id) == "charging"
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with (
            aiohttp.ClientSession() as client,
            client.post(
                f"http://127.0.0.1:{http}/console/api/sessions/{session_id}/stop",
                json={"confirm": True},
                headers=headers,
            ) as answer,
        ):
            assert answer.status == 200
        await _until(lambda: _state_in(config, session_id, ("refunding", "closed")), 30, "settled")
        # Then it retires: gone from the fleet, and its charger is refused from now on.
        await _until(lambda: _gone(http, "cp-001"), 30, "cp-001 retired")
        log_file = tmp_path / "bot.log"
        await _until(lambda: _logged(log_file, "refused /ocpp/cp-001"), 20, "cp-001 refused")
        assert "[cp-001] no longer configured: disconnecting" in log_file.read_text("utf-8")

        # SIGHUP does the same as `zapcharge reload`.
        _identity(config, "cp-004")
        process.send_signal(signal.SIGHUP)
        await _until(
            lambda: _logged(log_file, "reloaded identities: added: cp-004"), 20, "SIGHUP reload"
        )
        assert await _listed(http, "cp-004")
    log = (tmp_path / "bot.log").read_text(encoding="utf-8")
    assert "charger cp-001 retired" in log
    assert TOKEN not in log
    assert not await asyncio.to_thread(os.path.exists, tmp_path / "data" / "zapcharge.pid")


async def _online(http: int, charger_id: str) -> bool:
    fleet = await _fleet(http)
    return charger_id in fleet and bool(fleet[charger_id]["online"])


async def _logged(path: Path, text: str) -> bool:
    return text in await asyncio.to_thread(path.read_text, "utf-8")


async def _status(http: int, charger_id: str, status: str) -> bool:
    return bool((await _fleet(http))[charger_id]["connectors"][0]["status"] == status)


async def _gone(http: int, charger_id: str) -> bool:
    return charger_id not in await _fleet(http)


async def _listed(http: int, charger_id: str) -> bool:
    return charger_id in await _fleet(http)


async def _state_is(config: Path, session_id: str, state: str) -> bool:
    return await _session_state(config, session_id) == state


async def _state_in(config: Path, session_id: str, states: tuple[str, ...]) -> bool:
    return await _session_state(config, session_id) in states
