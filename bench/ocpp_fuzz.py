"""OCPP-J fuzz tier, long: seeded hostile frames against the real central system.

The test suite sends a few thousand (tests/ocpp/test_fuzz.py); this sends FRAMES over
CONNECTIONS chargers at once and reports what issue 13 measured from outside: connections
lost (target 0), frames without their answer (target 0), InternalErrors (target 0), and
the refusals by OCPP-J code. Frames come from ``tests.ocpp.fuzz``; the server is the
CentralSystem of ``zapcharge run`` on real SQLite, its events accept every tag.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import tempfile
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from bench.ocpp_roles import AcceptAll
from bot.config import ListenAddress, load_config
from bot.ocpp import CentralSystem
from bot.store import Database
from tests.helpers import write_config
from tests.ocpp.fuzz import frames

FRAMES = int(os.environ.get("BENCH_FUZZ_FRAMES", "100000"))
CONNECTIONS = 4


async def _charger(url: str, charger_id: str, password: str, seed: int, count: int) -> Counter[str]:
    tally: Counter[str] = Counter()
    transactions: list[int] = []
    token = base64.b64encode(f"{charger_id}:{password}".encode()).decode()
    headers = {"Authorization": f"Basic {token}"}
    async with connect(
        url + charger_id,
        subprotocols=[Subprotocol("ocpp1.6")],
        additional_headers=headers,
    ) as ws:
        try:
            for frame in frames(seed, count, transactions):
                await ws.send(frame.data)
                reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
                answered = reply[1] == frame.unique_id or (not frame.readable and reply[1] == "-1")
                tally["answered" if answered else "wrong id"] += 1
                if reply[0] == 4:
                    tally[reply[2]] += 1
                elif frame.action == "StartTransaction" and "transactionId" in reply[2]:
                    transactions.append(reply[2]["transactionId"])
        except (ConnectionClosed, TimeoutError):
            tally["connections lost"] += 1
    return tally


async def run() -> None:
    logging.getLogger("bot.ocpp").setLevel(logging.ERROR)  # every refusal logs a warning
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ids = tuple(f"cp-{n:03d}" for n in range(CONNECTIONS))
        write_config(root, chargers=ids, connectors=2)
        config = load_config(root / "relays.toml", env={})
        config = replace(config, ocpp=replace(config.ocpp, listen=ListenAddress("127.0.0.1", 0)))
        db = await Database.open(config.service.database_path)
        central = CentralSystem(config, db, AcceptAll())
        server = asyncio.create_task(central.run())
        try:
            port = await central.started()
            url = f"ws://127.0.0.1:{port}/ocpp/"
            started = time.monotonic()
            per = FRAMES // CONNECTIONS
            tallies = await asyncio.gather(
                *(
                    _charger(url, c.id, c.ocpp_password, 1300 + n, per)
                    for n, c in enumerate(config.chargers)
                )
            )
            elapsed = time.monotonic() - started
        finally:
            server.cancel()
            await asyncio.gather(server, return_exceptions=True)
            await db.close()
    total: Counter[str] = sum(tallies, Counter())
    sent = per * CONNECTIONS
    refused = {k: v for k, v in total.items() if k[0].isupper()}
    print(
        f"  {sent} hostile frames over {CONNECTIONS} connections in {elapsed:.1f} s"
        f" ({sent / elapsed:.0f} frames/s, one in flight per connection)"
    )
    print(f"  connections lost: {total['connections lost']} (target 0)")
    print(f"  frames without their answer: {sent - total['answered']} (target 0)")
    print(f"  InternalError answers: {total['InternalError']} (target 0)")
    print("  refused by code: " + ", ".join(f"{k} {v}" for k, v in sorted(refused.items())))
