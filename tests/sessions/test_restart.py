"""Restart at any point: the bot runs as a subprocess (``zapcharge run``), is killed with
SIGKILL between steps and started again; the simulated charger stays up in this process.
No second RemoteStart, nothing paid twice, and the session still ends settled."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from bot.app import register_chargers
from bot.config import load_config
from bot.ocpp.simcharger import SimCharger, SimSettings
from bot.sessions.machine import Event, State
from bot.sessions.tariff import make_quote
from bot.store import Database
from bot.store.sessions import SessionStore
from tests.helpers import scaled, write_config
from tests.sessions.support import wait_until

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _configure(root: Path) -> tuple[Path, int]:
    path = write_config(root)
    ocpp, http = _free_port(), _free_port()
    text = path.read_text(encoding="utf-8")
    text = text.replace('[ocpp]\nlisten = "127.0.0.1:0"', f'[ocpp]\nlisten = "127.0.0.1:{ocpp}"')
    text = text.replace('[http]\nlisten = "127.0.0.1:0"', f'[http]\nlisten = "127.0.0.1:{http}"')
    text += "\n[sessions]\nstart_timeout_s = 30\nstop_timeout_s = 30\nsample_interval_s = 5\n"
    path.write_text(text, encoding="utf-8")
    return path, ocpp


@asynccontextmanager
async def bot(config: Path) -> AsyncIterator[subprocess.Popen[bytes]]:
    with (config.parent / "bot.log").open("ab") as log:
        process = subprocess.Popen(  # noqa: ASYNC220 -- our own CLI; Popen returns at once
            [sys.executable, "-m", "bot", "--config", str(config), "run"],
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        try:
            yield process
        finally:
            if process.poll() is None:
                os.kill(process.pid, signal.SIGKILL)  # no clean shutdown: a crash
            await asyncio.to_thread(process.wait, 10)


def _state(db_path: Path, session_id: str) -> tuple[str, int]:
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5) as raw:
        row = raw.execute(
            "SELECT state, energy_wh FROM sessions WHERE id = ?", (session_id,)
        ).fetchone()
    return str(row[0]), int(row[1])


async def _paid_session(config_path: Path, amount_msat: int) -> str:
    """What the pay side and the payment watcher leave behind: a paid session."""
    config = load_config(config_path)
    config.service.database_path.parent.mkdir(parents=True, exist_ok=True)
    db = await Database.open(config.service.database_path)
    try:
        await register_chargers(config, db)
        store = SessionStore(db)
        charger = config.chargers[0]
        session = await store.create(
            charger.id,
            1,
            make_quote(charger.tariff, time.time()),
            payer_pubkey=None,
            payment_hash="d" * 64,
        )
        await store.apply(session.id, State.QUOTED, Event.INVOICE_PAID, paid_msat=amount_msat)
        return session.id
    finally:
        await db.close()


async def test_kill_and_restart_at_each_state(tmp_path: Path) -> None:
    config_path, port = _configure(tmp_path)
    session_id = await _paid_session(config_path, 500_000)  # 2 kWh at 250 sat/kWh
    db_path = load_config(config_path).service.database_path
    charger = load_config(config_path).chargers[0]
    sim = SimCharger(
        SimSettings(
            f"ws://127.0.0.1:{port}/ocpp",
            charger.id,
            charger.ocpp_password,
            clock_speed=40.0,
            sample_interval_s=60,
            reconnect_delay_s=0.1,
        )
    )
    sim_task = asyncio.create_task(sim.run())

    async def in_state(*states: str, within: float = 30.0) -> None:
        await wait_until(
            lambda: _state(db_path, session_id)[0] in states, within, f"session in {states}"
        )

    try:
        # 1. paid -> (killed while charging)
        async with bot(config_path):
            await in_state("charging")
            await sim.wait_for(lambda: sim.connectors[1].status == "Charging", scaled(10))
        # 2. charging -> killed mid-way with energy already counted
        async with bot(config_path):
            await wait_until(lambda: _state(db_path, session_id)[1] > 0, 30, "energy counted")
        energy_before = _state(db_path, session_id)[1]
        # 3. charging -> budget reached -> stopping -> settled, while we were away in between
        async with bot(config_path):
            await in_state("refunding", "closed", within=60)
        assert _state(db_path, session_id)[1] >= energy_before
        # 4. a last restart changes nothing that is done
        async with bot(config_path):
            await asyncio.sleep(scaled(2.0))
    finally:
        sim_task.cancel()
        await asyncio.gather(sim_task, return_exceptions=True)
    assert len(sim.commands("RemoteStartTransaction")) == 1
    assert 1 <= len(sim.commands("RemoteStopTransaction")) <= 2
    state, energy = _state(db_path, session_id)
    assert state in ("refunding", "closed")
    assert 0 < energy <= 2000
    with sqlite3.connect(db_path) as raw:
        paid, consumed, fees, refund = raw.execute(
            "SELECT paid_msat, consumed_msat, fees_msat, refund_msat FROM sessions WHERE id = ?",
            (session_id,),
        ).fetchone()
        assert paid == consumed + fees + refund == 500_000
        assert raw.execute("SELECT COUNT(*) FROM refunds").fetchone()[0] <= 1
