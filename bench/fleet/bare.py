"""The reference: the ``ocpp`` library's own central system with do-nothing handlers.

``python -m bench.fleet.bare`` listens on 127.0.0.1 (websockets, subprotocol ocpp1.6, no
compression, the library's routing and schema validation), prints ``PORT <n>`` and serves
until its stdin closes. It stores nothing and publishes nothing: what zapcharge does on top
of it is what the ratios of :mod:`bench.fleet` price.
"""

from __future__ import annotations

import asyncio
import sys
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any

from ocpp.routing import on
from ocpp.v16 import ChargePoint, call_result
from ocpp.v16.enums import Action
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

__all__ = ["main"]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class Bare(ChargePoint):  # type: ignore[misc]
    @on(Action.boot_notification)  # type: ignore[untyped-decorator]
    def on_boot(self, **kw: Any) -> Any:
        return call_result.BootNotification(current_time=_now(), interval=300, status="Accepted")

    @on(Action.heartbeat)  # type: ignore[untyped-decorator]
    def on_heartbeat(self, **kw: Any) -> Any:
        return call_result.Heartbeat(current_time=_now())

    @on(Action.status_notification)  # type: ignore[untyped-decorator]
    def on_status(self, **kw: Any) -> Any:
        return call_result.StatusNotification()

    @on(Action.start_transaction)  # type: ignore[untyped-decorator]
    def on_start(self, **kw: Any) -> Any:
        return call_result.StartTransaction(transaction_id=1, id_tag_info={"status": "Accepted"})

    @on(Action.meter_values)  # type: ignore[untyped-decorator]
    def on_meter_values(self, **kw: Any) -> Any:
        return call_result.MeterValues()


async def _handler(ws: ServerConnection) -> None:
    assert ws.request is not None
    with suppress(ConnectionClosed):
        await Bare(ws.request.path.rsplit("/", 1)[-1], ws).start()


async def _serve() -> None:
    async with serve(
        _handler, "127.0.0.1", 0, subprotocols=[Subprotocol("ocpp1.6")], compression=None
    ) as server:
        print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


def main() -> None:
    asyncio.run(_serve())


if __name__ == "__main__":
    main()
