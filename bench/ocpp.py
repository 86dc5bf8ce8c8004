"""OCPP central system: MeterValues throughput against the bare ``ocpp`` library, and
memory per idle connected charger.

Throughput: 50 chargers in a separate load process send MeterValues back to back (one in
flight each, as OCPP-J requires) for DURATION_S after WARMUP_S, against (a) our
CentralSystem, which checks, hash-chains and commits every reading to SQLite (WAL,
synchronous=FULL), and (b) the library's own router with do-nothing handlers and its
schema validation. Same machine, same run, rounds interleaved; target: ours >= 0.8x.

Memory: a server process with 2,000 configured chargers; RSS (VmRSS) before and after
2,000 chargers connect, boot, report a status and sit idle; target < 100 KB each.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from bench.ocpp_roles import PROTOCOL, now_iso, start_bare, start_ours

__all__ = ["run"]

CHARGERS = 50
DURATION_S = 5.0
WARMUP_S = 1.0
ROUNDS = 2
IDLE_CHARGERS = 2000
CONNECT_CONCURRENCY = 100


def _load(url: str, credentials_file: Path) -> dict[str, Any]:
    proc = subprocess.run(  # noqa: S603 -- our own module, fixed arguments
        [
            sys.executable,
            "-m",
            "bench.ocpp_roles",
            "load",
            url,
            str(credentials_file),
            str(DURATION_S),
            str(WARMUP_S),
        ],
        capture_output=True,
        text=True,
        timeout=DURATION_S + WARMUP_S + 60,
        check=True,
    )
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


async def _round(kind: str, directory: Path, credentials_file: Path) -> float:
    if kind == "ours":
        central, db, task = await start_ours(directory, CHARGERS)
        try:
            result = await asyncio.to_thread(
                _load, f"ws://127.0.0.1:{central.port}/ocpp/", credentials_file
            )
            rows = await db.fetchone("SELECT COUNT(*) FROM meter_log")
            assert rows is not None and rows[0] >= result["messages"], "every reading is stored"
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await db.close()
    else:
        server, port = await start_bare()
        try:
            result = await asyncio.to_thread(
                _load, f"ws://127.0.0.1:{port}/ocpp/", credentials_file
            )
        finally:
            server.close()
            await server.wait_closed()
    return float(result["messages"]) / float(result["seconds"])


async def throughput(root: Path) -> None:
    credentials_file = root / "credentials.json"
    credentials_file.write_text(json.dumps([[f"cp-{n}", f"password-{n}"] for n in range(CHARGERS)]))
    rates: dict[str, list[float]] = {"bare": [], "ours": []}
    for n in range(ROUNDS):
        for kind in ("bare", "ours"):
            directory = root / f"{kind}-{n}"
            directory.mkdir()
            rates[kind].append(await _round(kind, directory, credentials_file))
            print(f"  round {n + 1} {kind:4}: {rates[kind][-1]:8,.0f} MeterValues/s")
    bare, ours = (sum(rates[k]) / ROUNDS for k in ("bare", "ours"))
    print(
        f"throughput, {CHARGERS} chargers: bare ocpp library {bare:,.0f}/s, zapcharge {ours:,.0f}/s"
        f" (every reading hash-chained and committed): ratio {ours / bare:.2f}x (target >= 0.8x)"
    )


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


async def _idle_charger(url: str, n: int) -> ClientConnection:
    token = base64.b64encode(f"cp-{n}:password-{n}".encode()).decode()
    ws = await connect(
        url + f"cp-{n}",
        subprotocols=PROTOCOL,
        additional_headers={"Authorization": f"Basic {token}"},
        compression=None,
    )
    for frame in (
        [2, "b", "BootNotification", {"chargePointVendor": "bench", "chargePointModel": "idle"}],
        [
            2,
            "s",
            "StatusNotification",
            {
                "connectorId": 1,
                "status": "Available",
                "errorCode": "NoError",
                "timestamp": now_iso(),
            },
        ],
    ):
        await ws.send(json.dumps(frame))
        await ws.recv()
    return ws


async def _memory(kind: str, root: Path) -> float:
    directory = root / f"idle-{kind}"
    directory.mkdir()
    # Popen returns at once; the waiting below is done in a thread or with a timeout.
    proc = subprocess.Popen(  # noqa: S603, ASYNC220 -- our own module, fixed arguments
        [
            sys.executable,
            "-m",
            "bench.ocpp_roles",
            "serve",
            kind,
            str(directory),
            str(IDLE_CHARGERS),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    clients: list[ClientConnection] = []
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 60)
        url = f"ws://127.0.0.1:{int(line.split()[1])}/ocpp/"
        await asyncio.sleep(1.0)
        before = _rss_kb(proc.pid)
        started = time.monotonic()
        for first in range(0, IDLE_CHARGERS, CONNECT_CONCURRENCY):
            batch = range(first, min(first + CONNECT_CONCURRENCY, IDLE_CHARGERS))
            clients += await asyncio.wait_for(
                asyncio.gather(*(_idle_charger(url, n) for n in batch)), 60
            )
        connect_s = time.monotonic() - started
        await asyncio.sleep(2.0)
        after = _rss_kb(proc.pid)
        per_charger = (after - before) / IDLE_CHARGERS
        print(
            f"  {kind:4}: RSS {before / 1024:,.1f} MB -> {after / 1024:,.1f} MB with"
            f" {IDLE_CHARGERS} idle chargers (connected in {connect_s:.1f} s):"
            f" {per_charger:.1f} KB each"
        )
        return per_charger
    finally:
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


async def memory(root: Path) -> None:
    bare = await _memory("bare", root)
    ours = await _memory("ours", root)
    print(
        f"memory per idle charger: zapcharge {ours:.1f} KB (target < 100 KB),"
        f" bare library {bare:.1f} KB"
    )


async def run() -> None:
    os.environ.setdefault("PYTHONHASHSEED", "0")
    with tempfile.TemporaryDirectory(prefix="zapcharge-bench-ocpp-") as tmp:
        await throughput(Path(tmp))
        await memory(Path(tmp))
