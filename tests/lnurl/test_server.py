from __future__ import annotations

import asyncio
from collections.abc import Sequence

import aiohttp
from aiohttp import web

from bot.config import ListenAddress
from bot.lnurl.server import HttpServer
from tests.helpers import scaled


class Hello:
    def routes(self) -> Sequence[web.RouteDef]:
        async def hello(request: web.Request) -> web.Response:
            return web.json_response({"hello": request.match_info["name"]})

        return [web.get("/hello/{name}", hello)]


async def test_serves_health_and_provider_routes_on_an_ephemeral_port() -> None:
    server = HttpServer(ListenAddress("127.0.0.1", 0), [Hello()])
    task = asyncio.create_task(server.run())
    try:
        port = await asyncio.wait_for(server.started(), scaled(5))
        async with aiohttp.ClientSession() as client:
            async with client.get(f"http://127.0.0.1:{port}/healthz") as response:
                assert response.status == 200
                assert await response.json() == {"status": "ok"}
            async with client.get(f"http://127.0.0.1:{port}/hello/cp-001") as response:
                assert await response.json() == {"hello": "cp-001"}
            async with client.post(
                f"http://127.0.0.1:{port}/healthz", data=b"x" * 100_000
            ) as response:
                assert response.status in (405, 413)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert task.cancelled() or task.done()
