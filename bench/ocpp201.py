"""OCPP 2.0.1 beside 1.6: readings per second through the same central system.

50 chargers in a separate load process (raw websockets, frames by hand) each open one
transaction and send readings back to back, one in flight each: 1.6 MeterValues, or 2.0.1
TransactionEvent Updated (which also records its seqNo, in the same SQLite transaction
as the reading). Same server code, same machine, same run, rounds interleaved. Target:
2.0.1 >= 0.5x the 1.6 rate: the server's main thread mostly waits on SQLite for both, and a
2.0.1 reading costs one more durable row (its seqNo, which makes a replayed event count
once) and a few more statements per group commit.
"""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from bench.ocpp_roles import meter_values_frame, now_iso, start_ours

__all__ = ["run"]

CHARGERS = 50
DURATION_S = 5.0
WARMUP_S = 1.0
ROUNDS = 2


def _reading(energy_wh: int) -> dict[str, Any]:
    sampled = [
        ("Energy.Active.Import.Register", float(energy_wh), "Wh", "Outlet"),
        ("Power.Active.Import", 11000.0, "W", "Outlet"),
        ("SoC", 55.0, "Percent", "EV"),
    ]
    return {
        "timestamp": now_iso(),
        "sampledValue": [
            {
                "value": value,
                "context": "Sample.Periodic",
                "measurand": measurand,
                "location": location,
                "unitOfMeasure": {"unit": unit},
            }
            for measurand, value, unit, location in sampled
        ],
    }


def _event(unique_id: str, kind: str, seq_no: int, tx: str, energy_wh: int, **extra: Any) -> str:
    payload = {
        "eventType": kind,
        "timestamp": now_iso(),
        "triggerReason": "RemoteStart" if kind == "Started" else "MeterValuePeriodic",
        "seqNo": seq_no,
        "transactionInfo": {"transactionId": tx, "chargingState": "Charging"},
        "meterValue": [_reading(energy_wh)],
        **extra,
    }
    return json.dumps([2, unique_id, "TransactionEvent", payload])


async def _exchange(ws: ClientConnection, frame: str) -> None:
    await ws.send(frame)
    reply = json.loads(await ws.recv())
    assert isinstance(reply, list) and reply[0] == 3, reply


async def _charger(
    url: str, n: int, version: str, start: float, window: tuple[float, float]
) -> int:
    token = base64.b64encode(f"cp-{n}:password-{n}".encode()).decode()
    async with connect(
        url + f"cp-{n}",
        subprotocols=[Subprotocol(f"ocpp{version}")],
        additional_headers={"Authorization": f"Basic {token}"},
        compression=None,
    ) as ws:
        tx = f"TX-{n}"
        if version == "2.0.1":
            token_of = {"idToken": {"idToken": f"T-{n}", "type": "Central"}}
            evse = {"evse": {"id": 1, "connectorId": 1}}
            await _exchange(ws, _event("s", "Started", 0, tx, 1000, **token_of, **evse))
        else:
            begin = {
                "connectorId": 1,
                "idTag": f"T-{n}",
                "meterStart": 1000,
                "timestamp": now_iso(),
            }
            await ws.send(json.dumps([2, "s", "StartTransaction", begin]))
            transaction_id = int(json.loads(await ws.recv())[2]["transactionId"])
        counted = sent = 0
        while (now := time.monotonic() - start) < window[1]:
            sent += 1
            if version == "2.0.1":
                frame = _event(f"m{sent}", "Updated", sent, tx, 1000 + sent)
            else:
                frame = meter_values_frame(f"m{sent}", transaction_id, 1000 + sent)
            await _exchange(ws, frame)
            if window[0] <= now and time.monotonic() - start <= window[1]:
                counted += 1
    return counted


async def load(url: str, version: str, duration: float, warmup: float) -> None:
    start = time.monotonic()
    window = (warmup, warmup + duration)
    counts = await asyncio.gather(
        *(_charger(url, n, version, start, window) for n in range(CHARGERS))
    )
    print(json.dumps({"messages": sum(counts), "seconds": duration}))


def _load(url: str, version: str) -> dict[str, Any]:
    proc = subprocess.run(  # noqa: S603 -- our own module, fixed arguments
        [
            sys.executable,
            "-m",
            "bench.ocpp201",
            "load",
            url,
            version,
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


async def _round(version: str, directory: Path) -> float:
    central, db, task = await start_ours(directory, CHARGERS)
    try:
        url = f"ws://127.0.0.1:{central.port}/ocpp/"
        result = await asyncio.to_thread(_load, url, version)
        rows = await db.fetchone("SELECT COUNT(*) FROM meter_log")
        assert rows is not None and rows[0] >= result["messages"], "every reading is stored"
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await db.close()
    return float(result["messages"]) / float(result["seconds"])


async def run() -> None:
    rates: dict[str, list[float]] = {"1.6": [], "2.0.1": []}
    with tempfile.TemporaryDirectory(prefix="zapcharge-bench-201-") as tmp:
        for n in range(ROUNDS):
            for version, measured in rates.items():
                directory = Path(tmp) / f"{version}-{n}"
                directory.mkdir()
                measured.append(await _round(version, directory))
                print(f"  round {n + 1} OCPP {version:5}: {measured[-1]:8,.0f} readings/s")
    old, new = (sum(rates[v]) / ROUNDS for v in ("1.6", "2.0.1"))
    print(
        f"readings, {CHARGERS} chargers: OCPP 1.6 MeterValues {old:,.0f}/s, OCPP 2.0.1"
        f" TransactionEvent {new:,.0f}/s (seqNo and reading in one commit): ratio"
        f" {new / old:.2f}x (target >= 0.5x)"
    )


if __name__ == "__main__" and sys.argv[1:2] == ["load"]:
    asyncio.run(load(sys.argv[2], sys.argv[3], float(sys.argv[4]), float(sys.argv[5])))
