"""The processes of ``bench.ocpp``: a load generator and a server, each run as
``python -m bench.ocpp_roles load|serve ...`` so that neither shares a CPU with the other.

``load URL CREDENTIALS DURATION WARMUP``: every charger in the CREDENTIALS file (a JSON
list of ``[id, password]``) connects, opens a transaction and sends MeterValues back to
back, one in flight at a time as OCPP-J requires; prints the count answered in the window.

``serve ours|bare DIR CHARGERS``: runs one server on 127.0.0.1, prints ``PORT <n>``, and
serves until its stdin closes.
"""

from __future__ import annotations

import asyncio
import base64
import json
import sys
import time
from contextlib import suppress
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from bot.config import ListenAddress, load_config
from bot.identity import NewCharger, create_identity
from bot.ocpp import CentralSystem
from bot.store import Database

__all__ = ["AcceptAll", "bench_config", "meter_values_frame", "start_bare", "start_ours"]

PROTOCOL = [Subprotocol("ocpp1.6")]


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def meter_values_frame(unique_id: str, transaction_id: int, energy_wh: int) -> str:
    """What a real charger sends every sample interval: energy, power, state of charge."""
    context = "Sample.Periodic"
    sampled = [
        {
            "value": str(energy_wh),
            "context": context,
            "measurand": "Energy.Active.Import.Register",
            "location": "Outlet",
            "unit": "Wh",
        },
        {
            "value": "11000",
            "context": context,
            "measurand": "Power.Active.Import",
            "location": "Outlet",
            "unit": "W",
        },
        {
            "value": "55.0",
            "context": context,
            "measurand": "SoC",
            "location": "EV",
            "unit": "Percent",
        },
    ]
    payload = {
        "connectorId": 1,
        "transactionId": transaction_id,
        "meterValue": [{"timestamp": now_iso(), "sampledValue": sampled}],
    }
    return json.dumps([2, unique_id, "MeterValues", payload])


async def _exchange(ws: ClientConnection, frame: str) -> list[Any]:
    await ws.send(frame)
    reply = json.loads(await ws.recv())
    assert isinstance(reply, list) and reply[0] == 3, reply
    return reply


async def _charger(
    url: str, charger_id: str, password: str, start: float, window: tuple[float, float]
) -> int:
    token = base64.b64encode(f"{charger_id}:{password}".encode()).decode()
    headers = {"Authorization": f"Basic {token}"}
    counted = 0
    async with connect(
        url + charger_id, subprotocols=PROTOCOL, additional_headers=headers, compression=None
    ) as ws:
        begin = {
            "connectorId": 1,
            "idTag": f"T-{charger_id}",
            "meterStart": 1000,
            "timestamp": now_iso(),
        }
        reply = await _exchange(ws, json.dumps([2, "s", "StartTransaction", begin]))
        transaction_id = int(reply[2]["transactionId"])
        n = 0
        while (now := time.monotonic() - start) < window[1]:
            n += 1
            await _exchange(ws, meter_values_frame(f"m{n}", transaction_id, 1000 + n))
            if window[0] <= now and time.monotonic() - start <= window[1]:
                counted += 1
    return counted


async def load(url: str, credentials: list[list[str]], duration: float, warmup: float) -> None:
    start = time.monotonic()
    window = (warmup, warmup + duration)
    counts = await asyncio.gather(*(_charger(url, c, p, start, window) for c, p in credentials))
    print(json.dumps({"messages": sum(counts), "seconds": duration, "chargers": len(counts)}))


class AcceptAll:
    """ChargerEvents that authorizes every tag and keeps nothing: the session layer's cost
    is not the OCPP layer's to measure."""

    async def charger_online(self, charger_id: str, online: bool) -> None:
        return None

    async def connector_status(
        self, charger_id: str, connector_id: int, status: str, error_code: str
    ) -> None:
        return None

    async def authorize_start(self, charger_id: str, connector_id: int, id_tag: str) -> bool:
        return True

    async def transaction_started(self, charger_id: str, **kwargs: Any) -> None:
        return None

    async def meter_values(
        self, charger_id: str, connector_id: int, transaction_id: int | None, samples: Any
    ) -> None:
        return None

    async def transaction_stopped(self, charger_id: str, **kwargs: Any) -> None:
        return None


def bench_config(directory: Path, chargers: int) -> Any:
    """A config with ``chargers`` identities (copies of one, each with its own id/password)."""
    config_path = directory / "relays.toml"
    config_path.write_text(
        '[service]\npublic_url = "http://127.0.0.1"\ndata_dir = "data"\n'
        'identities_dir = "identities"\n[ocpp]\nlisten = "127.0.0.1:0"\n'
        '[lightning]\nbackend = "simnode"\n',
        encoding="utf-8",
    )
    create_identity(
        directory / "identities", NewCharger(id="cp-0", name="bench", lat=0.0, lon=0.0), None
    )
    config = load_config(config_path, env={})
    template = config.chargers[0]
    copies = tuple(
        replace(template, id=f"cp-{n}", ocpp_password=f"password-{n}") for n in range(chargers)
    )
    return replace(
        config, chargers=copies, ocpp=replace(config.ocpp, listen=ListenAddress("127.0.0.1", 0))
    )


async def start_ours(
    directory: Path, chargers: int
) -> tuple[CentralSystem, Database, asyncio.Task[None]]:
    config = bench_config(directory, chargers)
    db = await Database.open(config.service.database_path)
    central = CentralSystem(config, db, AcceptAll())
    task = asyncio.create_task(central.run())
    await central.started()
    return central, db, task


async def start_bare() -> tuple[Any, int]:
    """The ``ocpp`` library's own router with do-nothing handlers (and its validation)."""
    from ocpp.routing import on
    from ocpp.v16 import ChargePoint, call_result
    from ocpp.v16.enums import Action

    class Bare(ChargePoint):  # type: ignore[misc]
        @on(Action.boot_notification)  # type: ignore[untyped-decorator]
        def on_boot(self, **kw: Any) -> Any:
            return call_result.BootNotification(
                current_time=now_iso(), interval=300, status="Accepted"
            )

        @on(Action.status_notification)  # type: ignore[untyped-decorator]
        def on_status(self, **kw: Any) -> Any:
            return call_result.StatusNotification()

        @on(Action.start_transaction)  # type: ignore[untyped-decorator]
        def on_start(self, **kw: Any) -> Any:
            return call_result.StartTransaction(
                transaction_id=1, id_tag_info={"status": "Accepted"}
            )

        @on(Action.meter_values)  # type: ignore[untyped-decorator]
        def on_meter_values(self, **kw: Any) -> Any:
            return call_result.MeterValues()

    async def handler(ws: ServerConnection) -> None:
        assert ws.request is not None
        with suppress(ConnectionClosed):
            await Bare(ws.request.path.rsplit("/", 1)[-1], ws).start()

    server = await serve(handler, "127.0.0.1", 0, subprotocols=PROTOCOL, compression=None)
    return server, int(server.sockets[0].getsockname()[1])


async def serve_until_stdin_closes(kind: str, directory: Path, chargers: int) -> None:
    if kind == "ours":
        central, db, task = await start_ours(directory, chargers)
        print(f"PORT {central.port}", flush=True)
    else:
        server, port = await start_bare()
        print(f"PORT {port}", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    if kind == "ours":
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await db.close()
    else:
        server.close()


def main(argv: list[str]) -> None:
    if argv[0] == "load":
        credentials = json.loads(Path(argv[2]).read_text())
        asyncio.run(load(argv[1], credentials, float(argv[3]), float(argv[4])))
    elif argv[0] == "serve":
        asyncio.run(serve_until_stdin_closes(argv[1], Path(argv[2]), int(argv[3])))
    else:
        raise SystemExit(f"unknown role {argv[0]!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
