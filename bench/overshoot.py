"""Wh over budget per kill near the end: SIGKILL of ``zapcharge run`` close to a budget,
with and without the power cap of bot.sessions.edge, side by side in one run.

Each trial: a fresh config and database, one paid session of BUDGET_WH, a simulated 22 kW
charger (its clock CLOCK_SPEED times faster) that keeps charging whatever happens to the
bot, ``zapcharge run`` as a real subprocess. When the energy counted reaches a seeded
point within the last few minutes of the budget the bot is killed with SIGKILL, stays
down DOWN_S (simulated seconds), is started again and settles the session; the overshoot
is what the session's record says was delivered beyond the budget. Trials alternate
between ``limit_power_horizon_s = 0`` (no cap) and the default (cap near the end).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bot.app import register_chargers
from bot.config import load_config
from bot.ocpp.simcharger import SimCharger, SimSettings
from bot.sessions.machine import Event, State
from bot.sessions.records import SessionRecords
from bot.sessions.tariff import make_quote
from bot.store import Database
from tests.helpers import write_config

__all__ = ["run"]

KILLS = int(os.environ.get("BENCH_OVERSHOOT_KILLS", "4"))  # per mode
BUDGET_WH = 2000  # 500 sat at the default 250 sat/kWh
CLOCK_SPEED = 30.0
DOWN_S = 180.0  # simulated seconds the bot stays dead
POWER_W = 22_000
SEED = 13


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _configure(root: Path, horizon_s: int) -> tuple[Path, int]:
    root.mkdir(parents=True)
    path = write_config(root)
    port = _free_port()
    text = path.read_text(encoding="utf-8").replace(
        '[ocpp]\nlisten = "127.0.0.1:0"', f'[ocpp]\nlisten = "127.0.0.1:{port}"'
    )
    text += (
        "\n[sessions]\nsample_interval_s = 5\nstop_timeout_s = 60\n"
        f"limit_power_horizon_s = {horizon_s}\n"
    )
    path.write_text(text, encoding="utf-8")
    return path, port


async def _paid_session(config_path: Path, amount_msat: int) -> str:
    config = load_config(config_path)
    config.service.database_path.parent.mkdir(parents=True, exist_ok=True)
    db = await Database.open(config.service.database_path)
    try:
        await register_chargers(config, db)
        store = SessionRecords(db)
        charger = config.chargers[0]
        session = await store.create(
            charger.id,
            1,
            make_quote(charger.tariff, time.time()),
            payer_pubkey=None,
            payment_hash="e" * 64,
        )
        await store.apply(session.id, State.QUOTED, Event.INVOICE_PAID, paid_msat=amount_msat)
        return session.id
    finally:
        await db.close()


def _row(db_path: Path, session_id: str) -> tuple[str, int]:
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5) as raw:
        state, energy = raw.execute(
            "SELECT state, energy_wh FROM sessions WHERE id = ?", (session_id,)
        ).fetchone()
    return str(state), int(energy)


def _over(db_path: Path, session_id: str) -> int:
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5) as raw:
        found = raw.execute(
            "SELECT over_wh FROM session_overshoot WHERE session_id = ?", (session_id,)
        ).fetchone()
    return int(found[0]) if found else 0


def _start_bot(config: Path) -> subprocess.Popen[bytes]:
    with (config.parent / "bot.log").open("ab") as log:
        return subprocess.Popen(  # noqa: S603 -- our own CLI, our own arguments
            [sys.executable, "-m", "bot", "--config", str(config), "run"],
            stdout=subprocess.DEVNULL,
            stderr=log,
        )


async def _until(check: object, within: float) -> None:
    deadline = time.monotonic() + within
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise TimeoutError("bench condition not met in time")
        await asyncio.sleep(0.05)


async def _trial(root: Path, horizon_s: int, kill_left_wh: int) -> tuple[int, int]:
    """One kill ``kill_left_wh`` before the budget; returns (Wh over budget, cap in W)."""
    config_path, port = _configure(root, horizon_s)
    session_id = await _paid_session(config_path, BUDGET_WH * 250)
    config = load_config(config_path)
    db_path, charger = config.service.database_path, config.chargers[0]
    sim = SimCharger(
        SimSettings(
            f"ws://127.0.0.1:{port}/ocpp",
            charger.id,
            charger.ocpp_password,
            power_w=POWER_W,
            clock_speed=CLOCK_SPEED,
            sample_interval_s=5,
            reconnect_delay_s=0.1,
        )
    )
    sim_task = asyncio.create_task(sim.run())
    process = _start_bot(config_path)
    try:
        await _until(lambda: _row(db_path, session_id)[1] >= BUDGET_WH - kill_left_wh, 120)
        cap = int(sim.connectors[1].limit_w or POWER_W)
        os.kill(process.pid, signal.SIGKILL)
        await asyncio.to_thread(process.wait, 10)
        await asyncio.sleep(DOWN_S / CLOCK_SPEED)
        process = _start_bot(config_path)
        await _until(lambda: _row(db_path, session_id)[0] in ("refunding", "closed"), 120)
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
        await asyncio.to_thread(process.wait, 10)
        sim_task.cancel()
        await asyncio.gather(sim_task, return_exceptions=True)
    return _over(db_path, session_id), cap


async def run() -> None:
    logging.getLogger("bot.ocpp.sim").setLevel(logging.ERROR)  # "cannot connect" while down
    rng = random.Random(SEED)  # noqa: S311 -- seeded kill points, not a secret
    modes = {"without the cap": 0, "with the cap": 300}
    results: dict[str, list[tuple[int, int]]] = {name: [] for name in modes}
    with tempfile.TemporaryDirectory() as tmp:
        for n in range(KILLS):
            left = rng.randrange(300, 1000)  # killed 300..1000 Wh (49..164 s at 22 kW) early
            for name, horizon in modes.items():  # interleaved: same kill point for both
                results[name].append(await _trial(Path(tmp) / f"{n}-{horizon}", horizon, left))
    down = f"{DOWN_S:.0f} s down"
    print(f"  {KILLS} SIGKILLs per mode, {BUDGET_WH} Wh budget, 22 kW charger, {down}")
    for name, trials in results.items():
        over = [o for o, _ in trials]
        caps = ", ".join(f"{c / 1000:.1f}" for _, c in trials)
        print(
            f"  {name:16} Wh over budget per kill: mean {statistics.mean(over):.0f},"
            f" max {max(over)}  (each: {over}; power at the kill, kW: {caps})"
        )
    without = statistics.mean(o for o, _ in results["without the cap"])
    with_cap = statistics.mean(o for o, _ in results["with the cap"])
    print(f"  ratio with/without: {with_cap / without:.2f}" if without else "  no overshoot")
