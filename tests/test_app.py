from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.app import YOUNG_COLLECTION_EVERY, run_services
from bot.store import Database
from tests.helpers import scaled, write_config


class Sleeper:
    def __init__(self, name: str) -> None:
        self.name = name
        self.cleaned_up = False

    async def run(self) -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            self.cleaned_up = True


class Broken:
    name = "broken"

    async def run(self) -> None:
        await asyncio.sleep(0.01)
        raise RuntimeError("service broke")


async def test_stop_cancels_every_service_and_runs_their_cleanup() -> None:
    services = [Sleeper("a"), Sleeper("b")]
    stop = asyncio.Event()
    asyncio.get_running_loop().call_later(0.05, stop.set)
    await asyncio.wait_for(run_services(services, stop), scaled(5))
    assert all(s.cleaned_up for s in services)


async def test_a_broken_service_stops_the_others_and_surfaces() -> None:
    sleeper = Sleeper("a")
    with pytest.raises(ExceptionGroup) as info:
        await asyncio.wait_for(run_services([sleeper, Broken()], asyncio.Event()), scaled(5))
    assert info.group_contains(RuntimeError, match="service broke")
    assert sleeper.cleaned_up


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_run_shuts_down_cleanly_on_signal(tmp_path: Path, signum: int) -> None:
    config = write_config(tmp_path)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "--config", str(config), "run"],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stderr is not None
    deadline = time.monotonic() + scaled(20)
    seen = ""
    while "zapcharge running" not in seen:
        assert time.monotonic() < deadline, seen
        seen += proc.stderr.readline()
    proc.send_signal(signum)
    rest = proc.communicate(timeout=scaled(20))[1]
    assert proc.returncode == 0, seen + rest
    assert "database closed" in rest
    # Nothing half-written: the WAL was checkpointed and the database opens and reads.
    assert not (tmp_path / "data" / "zapcharge.sqlite3-wal").exists()
    asyncio.run(_assert_charger_stored(tmp_path / "data" / "zapcharge.sqlite3"))


async def _assert_charger_stored(path: Path) -> None:
    db = await Database.open(path)
    try:
        row = await db.fetchone("SELECT pubkey FROM chargers WHERE id = 'cp-001'")
        assert row is not None and len(row["pubkey"]) == 64
    finally:
        await db.close()


async def test_services_are_wired_in_one_phase(tmp_path: Path) -> None:
    # Each part is built once with everything it needs: the session workers act through
    # the very OCPP server that reports to their inbox, and nothing is attached later.
    from bot.app import build_services, register_chargers
    from bot.config import load_config
    from bot.lnurl.watcher import PaymentWatcher
    from bot.ocpp import CentralSystem
    from bot.sessions.workers import SessionWorkers

    config = load_config(write_config(tmp_path))
    config.service.database_path.parent.mkdir(parents=True, exist_ok=True)
    db = await Database.open(config.service.database_path)
    try:
        await register_chargers(config, db)
        services = build_services(config, db)
        central = next(s for s in services if isinstance(s, CentralSystem))
        workers = next(s for s in services if isinstance(s, SessionWorkers))
        watcher = next(s for s in services if isinstance(s, PaymentWatcher))
        assert workers.control is central
        assert workers.steps.messenger is not None and workers.steps.desk is not None
        assert watcher.handler is not None
        names = [s.name for s in services]
        assert len(names) == len(set(names))
        assert "nostr-dms" in names  # the DM receiver, made once the inbox exists
    finally:
        await db.close()


def test_no_part_is_attached_after_it_is_built() -> None:
    root = Path(__file__).resolve().parents[1] / "bot"
    attached = [p.name for p in root.rglob("*.py") if "def attach(" in p.read_text()]
    assert attached == []


_COLLECTOR_PROBE = """
import gc, json, weakref
from bot.app import tune_collector
before = gc.get_threshold()
kept = [{"n": n} for n in range(1000)]
tune_collector()
class Node: pass
a, b = Node(), Node()
a.other, b.other = b, a  # a cycle made after start-up: only the collector frees it
gone = weakref.ref(a)
del a, b
gc.collect()
print(json.dumps({"before": before, "after": gc.get_threshold(),
                  "frozen": gc.get_freeze_count(), "cycle_freed": gone() is None}))
"""


def test_the_run_process_collects_young_objects_less_often_and_freezes_its_start_up() -> None:
    # In a child process: freezing the test runner's own heap would keep its garbage.
    out = subprocess.run(
        [sys.executable, "-c", _COLLECTOR_PROBE],
        capture_output=True,
        text=True,
        check=True,
        timeout=scaled(60),
    )
    seen = json.loads(out.stdout)
    assert seen["after"] == [YOUNG_COLLECTION_EVERY, *seen["before"][1:]]
    assert seen["frozen"] >= 1000  # the start-up objects are out of every later collection
    assert seen["cycle_freed"]  # what is made later is still collected
