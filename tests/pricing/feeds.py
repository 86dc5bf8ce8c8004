"""Test feeds: a real HTTP server on 127.0.0.1 serving recorded-shape documents, and builders.

The server answers each path with whatever the test last set for it (status and body), so
a test can take a feed down, make it send garbage, and bring it back.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import coincurve
from aiohttp import web
from Cryptodome.Hash import keccak

__all__ = [
    "FeedServer",
    "address_of",
    "forecast_data",
    "sign_envelope",
    "spot_document",
]


class FeedServer:
    def __init__(self) -> None:
        self.answers: dict[str, tuple[int, str]] = {}
        self.hits: dict[str, int] = {}
        self.delay_s = 0.0  # a slow feed: each answer waits this long
        self._runner: web.AppRunner | None = None
        self.port = 0

    def set(self, path: str, body: str | dict[str, Any], status: int = 200) -> str:
        text = body if isinstance(body, str) else json.dumps(body)
        self.answers[path] = (status, text)
        return self.url(path)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def _handle(self, request: web.Request) -> web.Response:
        self.hits[request.path] = self.hits.get(request.path, 0) + 1
        await asyncio.sleep(self.delay_s)
        status, body = self.answers.get(request.path, (404, "not found"))
        return web.Response(status=status, text=body, content_type="application/json")

    async def start(self) -> FeedServer:
        app = web.Application()
        app.router.add_get("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @contextmanager
    def in_thread(self) -> Iterator[FeedServer]:
        """Serve from a thread with its own loop, for code that calls asyncio.run itself."""
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, daemon=True)
        thread.start()
        asyncio.run_coroutine_threadsafe(self.start(), loop).result(timeout=10)
        try:
            yield self
        finally:
            asyncio.run_coroutine_threadsafe(self.stop(), loop).result(timeout=10)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
            loop.close()


def spot_document(
    start: datetime, prices: list[float], *, minutes: int = 60, unit: str = "Eur/MWh"
) -> dict[str, Any]:
    """The day-ahead market shape, as the public feeds send it."""
    step = timedelta(minutes=minutes)
    return {
        "object": "list",
        "data": [
            {
                "start_timestamp": int((start + i * step).timestamp() * 1000),
                "end_timestamp": int((start + (i + 1) * step).timestamp() * 1000),
                "marketprice": price,
                "unit": unit,
            }
            for i, price in enumerate(prices)
        ],
        "url": "/de/v1/marketdata",
    }


def _keccak(data: bytes) -> bytes:
    return keccak.new(digest_bits=256, data=data).digest()


def address_of(key: coincurve.PrivateKey) -> str:
    return "0x" + _keccak(key.public_key.format(compressed=False)[1:])[-20:].hex()


def forecast_data(postcode: str, issued: datetime, start: datetime, values: list[int]) -> str:
    """The ``data`` text: the hourly index nested as JSON text, epochtime as strings, as sent."""
    hours = [
        {"epochtime": str(int((start + timedelta(hours=i)).timestamp())), "eevalue": v, "value": 0}
        for i, v in enumerate(values)
    ]
    return json.dumps(
        {"time": int(issued.timestamp() * 1000), "plz": postcode, "gsi": json.dumps(hours)}
    )


def sign_envelope(key: coincurve.PrivateKey, data: str) -> dict[str, str]:
    """Sign like the service's ethers wallet: signMessage over the 32 hash bytes (EIP-191)."""
    digest = _keccak(data.encode())
    signed = _keccak(b"\x19Ethereum Signed Message:\n32" + digest)
    signature = key.sign_recoverable(signed, hasher=None)
    return {
        "hash": "0x" + digest.hex(),
        "signature": "0x" + signature[:64].hex() + f"{signature[64] + 27:02x}",
        "by": address_of(key),
        "data": data,
    }
