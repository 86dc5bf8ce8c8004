"""The fleet load generator: ``python -m bench.fleet.load HOST PORT``, driven over stdin.

One JSON command a line on stdin, one JSON answer a line on stdout. Every charger is
``cp-<n>`` with password ``password-<n>`` and speaks through :mod:`bench.fleet.wire`.

``{"op": "throughput", "action": "Heartbeat"|"MeterValues", "chargers": 50, ...}``
    closed loops (one CALL in flight per charger) for ``duration`` s after ``warmup`` s.
``{"op": "connect", "count": N, "in_flight": 200, "deadline": s}``
    connect, BootNotification, StatusNotification(Available) for cp-0..cp-N-1.
``{"op": "flap", "count": 500, "duration": s, "period": s}``
    connected chargers alternate Preparing/Available every ``period`` s (random phase).
``{"op": "storm", "in_flight": 200, "deadline": s}``
    drop every TCP connection at once (RST), then connect and boot all of them again.
``{"op": "close"}``  close every connection and exit.

A charger that is refused or closed before its boot is answered tries again after a
second (as real ones do, with their own backoff); each such close is counted.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.fleet.wire import Charger, Closed, connect, text_frame

__all__ = ["main"]

PATH = "/ocpp/"


def _frame(unique_id: str, action: str, payload: dict[str, Any]) -> bytes:
    return text_frame(json.dumps([2, unique_id, action, payload], separators=(",", ":")).encode())


def _now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


BOOT = _frame("b", "BootNotification", {"chargePointVendor": "bench", "chargePointModel": "fleet"})


def _status(status: str) -> bytes:
    payload = {"connectorId": 1, "status": status, "errorCode": "NoError", "timestamp": _now_iso()}
    return _frame("s", "StatusNotification", payload)


def _meter_values(n: int, transaction_id: int) -> bytes:
    sampled = [
        {"value": str(1000 + n), "context": "Sample.Periodic",
         "measurand": "Energy.Active.Import.Register", "location": "Outlet", "unit": "Wh"},
        {"value": "11000", "context": "Sample.Periodic", "measurand": "Power.Active.Import",
         "location": "Outlet", "unit": "W"},
        {"value": "55.0", "context": "Sample.Periodic", "measurand": "SoC", "location": "EV",
         "unit": "Percent"},
    ]  # fmt: skip
    payload = {
        "connectorId": 1,
        "transactionId": transaction_id,
        "meterValue": [{"timestamp": _now_iso(), "sampledValue": sampled}],
    }
    return _frame(f"m{n}", "MeterValues", payload)


@dataclass
class Fleet:
    host: str
    port: int
    chargers: dict[int, Charger] = field(default_factory=dict)

    async def _open(self, n: int) -> Charger:
        return await connect(self.host, self.port, PATH + f"cp-{n}", f"cp-{n}", f"password-{n}")

    async def _boot(self, n: int, stats: dict[str, Any], deadline: float) -> None:
        """Connect and boot one charger, retrying after a close until ``deadline``."""
        while time.monotonic() < deadline:
            charger: Charger | None = None
            try:
                charger = await self._open(n)
                answer = await charger.call(BOOT)
                if b'"Accepted"' not in answer:
                    raise Closed(None, "boot not accepted")
                stats["booted_at"][n] = time.time()
                await charger.call(_status("Available"))
                self.chargers[n] = charger
                return
            except (Closed, OSError) as error:
                during = error.during if isinstance(error, Closed) else "tcp connect"
                stats["closed"][during] = stats["closed"].get(during, 0) + 1
                if charger is not None:
                    charger.abort()
                await asyncio.sleep(1.0 + random.random())  # noqa: S311 -- jitter, not a secret

    async def boot_all(
        self, numbers: Sequence[int], in_flight: int, deadline_s: float
    ) -> dict[str, Any]:
        stats: dict[str, Any] = {"booted_at": {}, "closed": {}}
        deadline = time.monotonic() + deadline_s
        slots = asyncio.Semaphore(in_flight)
        started, wall = time.monotonic(), time.time()

        async def one(n: int) -> None:
            async with slots:
                await self._boot(n, stats, deadline)

        await asyncio.gather(*(one(n) for n in numbers))
        booted = stats.pop("booted_at")
        return {
            "accepted": len(booted),
            "count": len(numbers),
            "seconds": time.monotonic() - started,
            "started": wall,
            "booted_at": booted,
            **stats,
        }

    async def storm(self, in_flight: int, deadline_s: float) -> dict[str, Any]:
        numbers = sorted(self.chargers)
        for charger in self.chargers.values():
            charger.abort()
        self.chargers.clear()
        await asyncio.sleep(0.5)  # let the server see every connection go
        return await self.boot_all(numbers, in_flight, deadline_s)

    async def flap(self, count: int, duration: float, period: float) -> dict[str, Any]:
        sent: list[tuple[int, str, float]] = []
        errors = 0
        end = time.monotonic() + duration

        async def one(n: int, charger: Charger) -> None:
            nonlocal errors
            await asyncio.sleep(random.random() * period)  # noqa: S311 -- a phase, not a secret
            status = "Preparing"
            while time.monotonic() < end:
                at = time.time()
                try:
                    await charger.call(_status(status))
                except Closed:
                    errors += 1
                    return
                sent.append((n, status, at))
                status = "Available" if status == "Preparing" else "Preparing"
                await asyncio.sleep(period)

        chosen = sorted(self.chargers)[:count]
        await asyncio.gather(*(one(n, self.chargers[n]) for n in chosen))
        return {"sent": sent, "errors": errors}

    async def throughput(
        self, action: str, count: int, duration: float, warmup: float
    ) -> dict[str, Any]:
        chargers = [await self._open(n) for n in range(count)]
        counted = 0
        try:
            for charger in chargers:
                await charger.call(BOOT)
            transactions = [0] * count
            if action == "MeterValues":
                for i, charger in enumerate(chargers):
                    begin = {"connectorId": 1, "idTag": f"T{i}", "meterStart": 1000,
                             "timestamp": _now_iso()}  # fmt: skip
                    answer = json.loads(await charger.call(_frame("t", "StartTransaction", begin)))
                    transactions[i] = int(answer[2]["transactionId"])
            start = time.monotonic()
            window = (start + warmup, start + warmup + duration)

            async def loop(i: int, charger: Charger) -> None:
                nonlocal counted
                n = 0
                while (now := time.monotonic()) < window[1]:
                    n += 1
                    if action == "MeterValues":
                        frame = _meter_values(n, transactions[i])
                    else:
                        frame = _frame(f"h{n}", "Heartbeat", {})
                    answer = await charger.call(frame)
                    if not answer.startswith(b"[3,"):
                        raise RuntimeError(f"refused: {answer[:200]!r}")
                    if now >= window[0] and time.monotonic() <= window[1]:
                        counted += 1

            await asyncio.gather(*(loop(i, c) for i, c in enumerate(chargers)))
        finally:
            for charger in chargers:
                charger.close()
        return {"messages": counted, "seconds": duration, "rate": counted / duration}

    def close(self) -> None:
        for charger in self.chargers.values():
            charger.close()
        self.chargers.clear()


async def serve(host: str, port: int) -> None:
    fleet = Fleet(host, port)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        command = json.loads(line)
        op = command["op"]
        if op == "throughput":
            result = await fleet.throughput(
                command["action"], command["chargers"], command["duration"], command["warmup"]
            )
        elif op == "connect":
            result = await fleet.boot_all(
                range(command["count"]), command["in_flight"], command["deadline"]
            )
        elif op == "storm":
            result = await fleet.storm(command["in_flight"], command["deadline"])
        elif op == "flap":
            result = await fleet.flap(command["count"], command["duration"], command["period"])
        elif op == "close":
            fleet.close()
            await asyncio.sleep(0.5)
            print(json.dumps({"closed": True}), flush=True)
            return
        else:
            result = {"error": f"unknown op {op!r}"}
        print(json.dumps(result), flush=True)


def main(argv: list[str]) -> None:
    asyncio.run(serve(argv[0], int(argv[1])))


if __name__ == "__main__":
    main(sys.argv[1:])
