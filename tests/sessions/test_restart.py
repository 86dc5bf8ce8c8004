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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.app import register_chargers
from bot.config import load_config
from bot.lightning.nwc.simwallet import WalletOptions, build_wallet
from bot.lightning.simnode import read_payments, serve_in_process
from bot.nostr.relay import local_relay
from bot.ocpp.simcharger import SimCharger, SimSettings
from bot.ocpp.simstate import SimConnector
from bot.ports.bolt11 import decode_invoice
from bot.sessions.machine import Event, State
from bot.sessions.records import SessionRecords
from bot.sessions.steps import RESUME_GRACE_S
from bot.sessions.tariff import make_quote
from bot.store import Database
from tests.helpers import scaled, write_config
from tests.lnurl.invoices import issue_invoice
from tests.sessions.support import WIRES, sim_class, wait_until

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _configure(root: Path) -> tuple[Path, int]:
    path, ocpp, _ = _configure_ports(root)
    return path, ocpp


def _configure_ports(root: Path) -> tuple[Path, int, int]:
    path = write_config(root)
    ocpp, http = _free_port(), _free_port()
    text = path.read_text(encoding="utf-8")
    text = text.replace('[ocpp]\nlisten = "127.0.0.1:0"', f'[ocpp]\nlisten = "127.0.0.1:{ocpp}"')
    text = text.replace('[http]\nlisten = "127.0.0.1:0"', f'[http]\nlisten = "127.0.0.1:{http}"')
    text += "\n[sessions]\nstart_timeout_s = 30\nstop_timeout_s = 30\nsample_interval_s = 5\n"
    path.write_text(text, encoding="utf-8")
    return path, ocpp, http


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


async def _paid_session(config_path: Path, amount_msat: int, *, refund_due: bool = False) -> str:
    """What the pay side and the payment watcher leave behind: a paid session."""
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
            payment_hash="d" * 64,
        )
        await store.apply(session.id, State.QUOTED, Event.INVOICE_PAID, paid_msat=amount_msat)
        if refund_due:  # what a failed start leaves behind: the whole amount owed back
            await store.apply(session.id, State.PAID, Event.CHARGER_OFFLINE)
            await store.apply(
                session.id, State.FAILED_TO_START, Event.REFUND_DUE, refund_msat=amount_msat
            )
        return session.id
    finally:
        await db.close()


@pytest.mark.parametrize("ln_kind", ["cln", "nwc"])
async def test_kill_and_restart_at_each_state(tmp_path: Path, ocpp: str, ln_kind: str) -> None:
    """Killed while charging, mid-way and after the budget was reached, on either charger
    protocol and on either Lightning backend: one start, the books balance."""
    config_path, port = _configure(tmp_path)
    session_id = await _paid_session(config_path, 500_000)  # 2 kWh at 250 sat/kWh
    db_path = load_config(config_path).service.database_path
    charger = load_config(config_path).chargers[0]
    sim = sim_class(ocpp)(
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
        async with lightning(config_path, ln_kind):
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
    assert len(sim.commands(WIRES[ocpp].remote_start)) == 1
    assert 1 <= len(sim.commands(WIRES[ocpp].remote_stop)) <= 2
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


def held_starts(base: type[SimCharger]) -> Any:
    """A simulated charger whose car is slow to plug in: a remote start is accepted, but its
    StartTransaction (TransactionEvent Started in 2.0.1) is held back until the test lets
    it go."""

    @dataclass
    class HeldStarts(base):  # type: ignore[valid-type,misc]
        hold: bool = True
        held: list[tuple[SimConnector, str]] = field(default_factory=list)

        def start_transaction(self, c: SimConnector, id_tag: str) -> None:
            if self.hold:
                self.held.append((c, id_tag))
            else:
                super().start_transaction(c, id_tag)

        def release(self) -> None:
            self.hold = False
            for c, id_tag in self.held:
                super().start_transaction(c, id_tag)

    return HeldStarts


@pytest.mark.parametrize("ln_kind", ["cln", "nwc"])
async def test_kill_while_starting_sends_no_second_remote_start(
    tmp_path: Path, ocpp: str, ln_kind: str
) -> None:
    config_path, port = _configure(tmp_path)
    session_id = await _paid_session(config_path, 100_000)  # 400 Wh at 250 sat/kWh
    config = load_config(config_path)
    db_path, charger = config.service.database_path, config.chargers[0]
    settings = SimSettings(
        f"ws://127.0.0.1:{port}/ocpp",
        charger.id,
        charger.ocpp_password,
        clock_speed=40.0,
        sample_interval_s=60,
        reconnect_delay_s=0.1,
    )
    sim = held_starts(sim_class(ocpp))(settings)
    sim_task = asyncio.create_task(sim.run())
    try:
        async with lightning(config_path, ln_kind):
            # 1. killed right after the RemoteStart went out, before any StartTransaction
            async with bot(config_path):
                await sim.wait_for(lambda: len(sim.held) == 1, scaled(30))
                await wait_until(lambda: _state(db_path, session_id)[0] == "starting", 10)
            await sim.wait_for(lambda: not sim.connected, scaled(10))
            # 2. restarted while starting: it waits for the StartTransaction, it does not ask again
            async with bot(config_path):
                await sim.wait_for(lambda: sim.connected, scaled(30))
                # A window inside the resume grace, not scaled: past the grace a connector still
                # reported Available is asked again on purpose, so a slow machine's longer window
                # would watch the bot do the right thing and call it a second start.
                await asyncio.sleep(RESUME_GRACE_S * 0.4)
                assert _state(db_path, session_id)[0] == "starting"
                assert len(sim.commands(WIRES[ocpp].remote_start)) == 1
                sim.release()  # the car is plugged in at last
                await wait_until(
                    lambda: _state(db_path, session_id)[0] in ("refunding", "closed"),
                    45,
                    "session settled",
                )
    finally:
        sim_task.cancel()
        await asyncio.gather(sim_task, return_exceptions=True)
    assert len(sim.commands(WIRES[ocpp].remote_start)) == 1
    assert len(sim.commands(WIRES[ocpp].remote_stop)) == 1
    energy = _state(db_path, session_id)[1]
    assert 0 < energy <= 400
    with sqlite3.connect(db_path) as raw:
        paid, consumed, fees, refund = raw.execute(
            "SELECT paid_msat, consumed_msat, fees_msat, refund_msat FROM sessions WHERE id = ?",
            (session_id,),
        ).fetchone()
    assert paid == consumed + fees + refund == 100_000


def _refund_rows(db_path: Path) -> list[tuple[str, str | None, str]]:
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5) as raw:
        rows = raw.execute("SELECT session_id, k1, status FROM refunds").fetchall()
    return [(str(a), b, str(c)) for a, b, c in rows]


def _switch_to_nwc(config_path: Path) -> None:
    text = config_path.read_text(encoding="utf-8")
    text = text.replace('backend = "simnode"', 'backend = "nwc"\nnetwork = "regtest"')
    config_path.write_text(text, encoding="utf-8")


@asynccontextmanager
async def lightning(config_path: Path, ln_kind: str) -> AsyncIterator[None]:
    """The simulated node; with "nwc" also its wallet service on a relay of its own, and
    the config switched to ``backend = "nwc"`` with the URI file the service writes."""
    lightning_dir = load_config(config_path).lightning.lightning_dir
    async with serve_in_process(lightning_dir) as server:
        if ln_kind == "cln":
            yield
            return
        async with local_relay() as url, asyncio.TaskGroup() as tasks:
            options = WalletOptions(config_path.parent / "wallet.nwc", url)
            wallet = build_wallet(server.node, options)
            service = tasks.create_task(wallet.run())
            await asyncio.wait_for(wallet.ready.wait(), scaled(10))
            _switch_to_nwc(config_path)
            try:
                yield
            finally:
                service.cancel()


@pytest.mark.parametrize("ln_kind", ["cln", "nwc"])
async def test_kill_while_refunding_pays_the_refund_once(tmp_path: Path, ln_kind: str) -> None:
    """A session that failed to start owes all of it back (no payer, so a withdraw link);
    the bot is killed with that refund due, restarted, and the driver redeems it. On Core
    Lightning and on Nostr Wallet Connect (the same node's wallet service)."""
    config_path, _, http_port = _configure_ports(tmp_path)
    session_id = await _paid_session(config_path, 300_000, refund_due=True)
    config = load_config(config_path)
    db_path = config.service.database_path
    base = f"http://127.0.0.1:{http_port}"
    async with lightning(config_path, ln_kind):
        # 1. killed with the refund due and its link offered
        async with bot(config_path):
            await wait_until(lambda: _refund_rows(db_path), 30, "a refund offered")
        [(row_session, k1, status)] = _refund_rows(db_path)
        assert (row_session, status) == (session_id, "offered") and k1 is not None
        assert _state(db_path, session_id)[0] == "refunding"
        # 2. restarted: the same refund, the same link; the driver redeems it once
        async with bot(config_path):
            await asyncio.sleep(scaled(2.0))
            assert _refund_rows(db_path) == [(session_id, k1, "offered")]
            pr, _ = issue_invoice(300_000, description="refund", created_at=int(time.time()))
            async with aiohttp.ClientSession() as http:
                await wait_until(lambda: _answers(http, f"{base}/lnurlw/{k1}"), 30, "http up")
                async with http.get(
                    f"{base}/lnurlw/callback", params={"k1": k1, "pr": pr}
                ) as response:
                    assert (await response.json())["status"] == "OK"
                async with http.get(
                    f"{base}/lnurlw/callback", params={"k1": k1, "pr": pr}
                ) as response:
                    assert (await response.json())["status"] == "ERROR"
            await wait_until(lambda: _state(db_path, session_id)[0] == "closed", 30, "closed")
        # 3. a last restart pays nothing more
        async with bot(config_path):
            await asyncio.sleep(scaled(2.0))
        payments = read_payments(config.lightning.lightning_dir)
    assert [(p.payment_hash, p.amount_msat, p.status) for p in payments] == [
        (decode_invoice(pr).payment_hash, 300_000, "complete")
    ]
    assert _refund_rows(db_path) == [(session_id, k1, "paid")]
    assert _state(db_path, session_id)[0] == "closed"


async def _answers(http: aiohttp.ClientSession, url: str) -> bool:
    try:
        async with http.get(url) as response:
            return response.status == 200
    except aiohttp.ClientConnectionError:
        return False
