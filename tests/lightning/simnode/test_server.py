"""The simulated node's socket, spoken to with raw bytes."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from bot.errors import LightningError
from bot.lightning.cln import ClnBackend
from bot.lightning.simnode import SimnodeClient, SimnodeServer, serve_in_process
from tests.helpers import scaled


async def exchange(server: SimnodeServer, raw: bytes) -> bytes:
    reader, writer = await asyncio.open_unix_connection(str(server.rpc_path))
    writer.write(raw)
    await writer.drain()
    reply = await asyncio.wait_for(reader.read(), scaled(5))
    writer.close()
    return reply


async def test_unknown_methods_and_bad_parameters(node: SimnodeServer, ln_dir: Path) -> None:
    client = SimnodeClient(ln_dir)
    with pytest.raises(LightningError) as caught:
        await client.call("fundchannel", {})
    assert caught.value.code == -32601
    with pytest.raises(LightningError) as caught:
        await client.call("invoice", {"amount_msat": 1, "description": "no label"})
    assert caught.value.code == -32602


async def test_garbage_gets_a_parse_error_and_a_hangup(node: SimnodeServer) -> None:
    reply = await exchange(node, b'{"id": 1, "method": ] this is not json at all}')
    assert reply.endswith(b"\n\n")
    assert json.loads(reply)["error"]["code"] == -32700


async def test_a_client_that_hangs_up_cancels_its_wait(node: SimnodeServer) -> None:
    request = {"jsonrpc": "2.0", "id": 1, "method": "waitanyinvoice", "params": {}}
    _, writer = await asyncio.open_unix_connection(str(node.rpc_path))
    writer.write(json.dumps(request).encode())
    await writer.drain()
    await asyncio.sleep(0.05)
    assert node.open_connections == 1
    writer.close()
    for _ in range(100):
        if node.open_connections == 0:
            break
        await asyncio.sleep(0.01)
    assert node.open_connections == 0


async def test_long_socket_paths_work(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    async with serve_in_process(deep) as server:
        assert len(str(server.rpc_path)) > 108
        info = await ClnBackend(server.rpc_path).node_info()
        assert info.network == "regtest"
        assert await SimnodeClient(deep).call("getinfo") == await SimnodeClient(deep).call(
            "getinfo"
        )


async def test_a_stale_socket_is_replaced_and_a_live_one_is_not(ln_dir: Path) -> None:
    rpc = ln_dir / "regtest" / "lightning-rpc"
    rpc.parent.mkdir(parents=True)
    rpc.write_text("left behind by a crash")
    async with serve_in_process(ln_dir):
        with pytest.raises(RuntimeError, match="already listening"):
            async with serve_in_process(ln_dir):
                pass
