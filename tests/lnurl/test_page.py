from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp

from bot.config import ListenAddress
from bot.lnurl.page import SessionPage
from bot.lnurl.server import HttpServer
from bot.sessions.machine import State
from bot.sessions.refunding import refund_rows
from tests.helpers import scaled
from tests.sessions.support import rig


async def test_page_status_and_stop(tmp_path: Path) -> None:
    async with rig(tmp_path) as r:
        await r.charger(clock_speed=10.0)
        session = await r.paid_session(2_000_000)
        await r.reaches(session.id, State.CHARGING)
        page = SessionPage(r.inbox, refund_rows(r.db))
        server = HttpServer(ListenAddress("127.0.0.1", 0), [page])
        task = asyncio.create_task(server.run())
        try:
            port = await asyncio.wait_for(server.started(), scaled(5))
            base = f"http://127.0.0.1:{port}"
            async with aiohttp.ClientSession() as http:
                async with http.get(f"{base}/s/{session.token}") as answer:
                    assert answer.status == 200
                    body = await answer.text()
                    assert session.id in body and "Stop charging" in body
                    assert answer.headers["Referrer-Policy"] == "no-referrer"
                async with http.get(f"{base}/session/{session.token}") as answer:
                    assert answer.status == 200
                async with http.get(f"{base}/s/{session.token}/status.json") as answer:
                    numbers = await answer.json()
                    assert numbers["state"] == "charging"
                    assert numbers["paid_msat"] == 2_000_000
                async with http.post(f"{base}/s/{session.token}/stop") as answer:
                    assert "Stopping" in (await answer.json())["message"]
                async with http.post(f"{base}/s/{session.token}/stop") as answer:
                    assert answer.status == 200  # a second stop is harmless
                async with http.get(f"{base}/s/wrong-token/status.json") as answer:
                    assert answer.status == 404
            done = await r.reaches(session.id, State.REFUNDING, State.CLOSED)
            assert done.stop_reason == "page_stop"
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
