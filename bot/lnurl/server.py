"""The bot's one HTTP server (aiohttp): LNURL, NIP-05, session pages, health.

Each feature contributes routes as a :class:`RouteProvider`; the server itself only binds,
serves and unwinds. Listening on port 0 is allowed (tests, the demo): :meth:`HttpServer.
started` returns once the socket is bound, and :attr:`HttpServer.port` then holds the port.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Protocol

from aiohttp import web

from bot.config import ListenAddress
from bot.lnurl.edges import lnurl_edges
from bot.nostr.zaps import MAX_REQUEST_CHARS

__all__ = ["HttpServer", "RouteProvider"]

log = logging.getLogger(__name__)

# Requests are small JSON/HTML exchanges; nothing legitimate comes near this.
MAX_REQUEST_BYTES = 64 * 1024
# But a zap request comes URL-encoded in the callback's query: up to 12 characters on the
# request line for each of its characters (a 4-byte UTF-8 one, percent-encoded). The
# parser's default of 8 KiB would refuse a lawful one with a bare 400 before our handler,
# so a wallet would never read why; beyond this line the parser still refuses.
MAX_REQUEST_LINE = 12 * MAX_REQUEST_CHARS + 4096


class RouteProvider(Protocol):
    def routes(self) -> Sequence[web.RouteDef]: ...


async def _healthz(request: web.Request) -> web.Response:
    del request
    return web.json_response({"status": "ok"})


class HttpServer:
    """A Service: serves every provider's routes on ``listen`` until cancelled."""

    name = "http"

    def __init__(self, listen: ListenAddress, providers: Sequence[RouteProvider]) -> None:
        self.listen = listen
        self._providers = providers
        self._bound = asyncio.Event()
        self.port: int | None = None
        self._failure: BaseException | None = None

    def application(self) -> web.Application:
        # lnurl_edges: CORS preflights and LNURL error bodies on the public LNURL paths.
        app = web.Application(client_max_size=MAX_REQUEST_BYTES, middlewares=[lnurl_edges])
        app.router.add_get("/healthz", _healthz)
        for provider in self._providers:
            app.router.add_routes(provider.routes())
        return app

    async def started(self) -> int:
        """Wait until the socket is bound; return the port."""
        await self._bound.wait()
        if self.port is None:
            raise RuntimeError(f"HTTP server did not start: {self._failure!r}")
        return self.port

    async def run(self) -> None:
        runner = web.AppRunner(
            self.application(),
            access_log=None,
            handle_signals=False,
            shutdown_timeout=2.0,
            max_line_size=MAX_REQUEST_LINE,
        )
        try:
            await runner.setup()
            site = web.TCPSite(runner, self.listen.host, self.listen.port)
            await site.start()
            self.port = int(runner.addresses[0][1]) if runner.addresses else self.listen.port
            log.info("HTTP listening on %s:%s", self.listen.host, self.port)
            self._bound.set()
            await asyncio.Event().wait()
        except BaseException as exc:
            self._failure = exc
            self._bound.set()  # wake started(): it reports the failure instead of hanging
            raise
        finally:
            await runner.cleanup()
