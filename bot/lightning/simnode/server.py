"""The simulated node's unix socket: ``<lightning-dir>/<network>/lightning-rpc``, CLN framing.

A thin pump: bytes in go to :class:`~bot.lightning.simnode.rpc.RequestParser`, requests go
to :class:`~bot.lightning.simnode.node.SimNode`, replies go out with ``"\\n\\n"``. A client
that hangs up cancels its pending call (a long ``waitanyinvoice`` must not linger). With
``wire_log`` every exchange is appended as one JSON line, for the contract tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import time
from collections.abc import AsyncIterator, Callable, Collection, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from bot.lightning.simnode.node import SimNode
from bot.lightning.simnode.outgoing import DropConnection
from bot.lightning.simnode.rpc import Request, RequestParser, RpcFault, encode_reply
from bot.lightning.simnode.state import SimState, state_path

__all__ = ["RPC_FILE", "SimnodeServer", "serve_in_process", "short_socket_path"]

log = logging.getLogger(__name__)

RPC_FILE = "lightning-rpc"
_READ_SIZE = 65536
_UNIX_PATH_MAX = 100  # sun_path is 108 bytes on Linux; keep a margin


@contextlib.contextmanager
def short_socket_path(path: Path) -> Iterator[str]:
    """A path to ``path`` short enough for AF_UNIX (pytest's temp dirs can be long)."""
    if len(os.fsencode(path)) < _UNIX_PATH_MAX:
        yield str(path)
        return
    fd = os.open(path.parent, os.O_DIRECTORY | os.O_RDONLY)
    try:
        yield f"/proc/self/fd/{fd}/{path.name}"
    finally:
        os.close(fd)


class SimnodeServer:
    def __init__(self, node: SimNode, rpc_path: Path, wire_log: Path | None = None) -> None:
        self.node, self.rpc_path, self.wire_log = node, rpc_path, wire_log
        self._server: asyncio.AbstractServer | None = None
        # Each connection's task (owned by asyncio.start_unix_server) and its writer.
        self._connections: dict[asyncio.Task[Any], asyncio.StreamWriter] = {}

    @property
    def open_connections(self) -> int:
        return len(self._connections)

    async def start(self) -> None:
        self.rpc_path.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_socket(self.rpc_path)
        with short_socket_path(self.rpc_path) as path:
            self._server = await asyncio.start_unix_server(self._serve, path=path)
        os.chmod(self.rpc_path, 0o600)  # like lightningd: the socket is the node's keys
        log.warning(
            "zapcharge simnode: a SIMULATED Lightning node (not lightningd; no real money), "
            "node id %s, network %s, listening on %s",
            self.node.node_id,
            self.node.network,
            self.rpc_path,
        )

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            # Hang up rather than cancel: on Python 3.11 a cancelled connection task is
            # reported as an unhandled exception by asyncio's stream machinery.
            for writer in self._connections.values():
                writer.transport.abort()
            await asyncio.gather(*self._connections, return_exceptions=True)
            await self._server.wait_closed()
            self._server = None
        with contextlib.suppress(FileNotFoundError):
            self.rpc_path.unlink()
        self.node.state.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections[task] = writer
        parser = RequestParser()
        try:
            data = await reader.read(_READ_SIZE)
            while data:
                for item in parser.feed(data):
                    if isinstance(item, RpcFault):
                        writer.write(encode_reply(None, error=item))
                        continue
                    reply = await self._answer(item, reader)
                    if reply is None:
                        return  # hang up without an answer
                    writer.write(reply)
                await writer.drain()
                data = await reader.read(_READ_SIZE)
        except RpcFault as fault:  # unparseable input: say so, then hang up
            writer.write(encode_reply(None, error=fault))
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._connections.pop(task, None)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _answer(self, request: Request, reader: asyncio.StreamReader) -> bytes | None:
        call = asyncio.ensure_future(self.node.handle(request))
        gone = asyncio.ensure_future(_wait_for_hangup(reader))
        try:
            await asyncio.wait({call, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
            # The reader allows one waiter: let the cancelled read finish unwinding.
            await asyncio.gather(gone, return_exceptions=True)
        if not call.done():  # the client went away: nobody wants this answer
            call.cancel()
            await asyncio.gather(call, return_exceptions=True)
            return None
        try:
            result = call.result()
        except DropConnection:
            self._log(request, {"dropped": True})
            return None
        except RpcFault as fault:
            self._log(request, {"error": fault.as_json()})
            return encode_reply(request.id, error=fault)
        self._log(request, {"result": result})
        return encode_reply(request.id, result)

    def _log(self, request: Request, outcome: dict[str, Any]) -> None:
        if self.wire_log is None:
            return
        line = {"method": request.method, "params": request.params, **outcome}
        with self.wire_log.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(line) + "\n")


async def _wait_for_hangup(reader: asyncio.StreamReader) -> None:
    # pyln-client sends one request per connection and then only reads: EOF here means
    # the client closed its socket. Bytes of a pipelined request would be lost, but
    # neither pyln-client nor our own client pipelines.
    await reader.read(_READ_SIZE)


def _remove_stale_socket(path: Path) -> None:
    if not path.exists():
        return
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        with short_socket_path(path) as short:
            probe.connect(short)
    except OSError:
        path.unlink()  # left behind by a node that died
        return
    finally:
        probe.close()
    raise RuntimeError(f"another node is already listening on {path}")


@asynccontextmanager
async def serve_in_process(
    lightning_dir: Path,
    network: str = "regtest",
    *,
    clock: Callable[[], float] = time.time,
    wire_log: Path | None = None,
    without: Collection[str] = (),
) -> AsyncIterator[SimnodeServer]:
    """Run a simulated node on this event loop for the duration of the block."""
    state = SimState(state_path(lightning_dir, network))
    node = SimNode(
        state, lightning_dir=lightning_dir, network=network, clock=clock, without=without
    )
    server = SimnodeServer(node, lightning_dir / network / RPC_FILE, wire_log)
    try:
        await server.start()
    except BaseException:
        state.close()
        raise
    try:
        yield server
    finally:
        await server.stop()
