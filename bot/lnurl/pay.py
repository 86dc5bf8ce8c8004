"""LNURL-pay over HTTP: the routes, as thin as they can be; :class:`Checkout` does the work.

- ``GET /.well-known/lnurlp/<name>``: the LUD-06 pay request, which is also the LUD-16
  lightning address ``<name>@<domain>``; ``<name>`` is ``cp-001`` (any free connector)
  or ``cp-001.2`` (connector 2). ``identity show`` prints its bech32 ``LNURL1...``.
- ``GET /lnurlp/<name>/callback?amount=..[&nostr=..][&comment=..]``: the invoice (NIP-57).
- ``GET /lnurlp/verify/<payment_hash>``: LUD-21.
- ``GET /.well-known/nostr.json?name=<charger-id>``: NIP-05, with our relays.

Refusals are LUD error answers (:mod:`bot.lnurl.answers`).
"""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import web

from bot.lnurl.answers import lud_answer, lud_json
from bot.lnurl.checkout import Checkout
from bot.lnurl.protocol import query_values

__all__ = ["PayEndpoints"]


class PayEndpoints:
    """A RouteProvider for the HTTP server."""

    def __init__(self, checkout: Checkout) -> None:
        self.checkout = checkout

    def routes(self) -> Sequence[web.RouteDef]:
        # The callback is routed before verify: a charger named "verify" keeps its callback,
        # and a payment hash (64 hex digits) is never the word "callback".
        return [
            web.get("/.well-known/lnurlp/{name}", self._pay_request),
            web.get("/lnurlp/{name}/callback", self._callback),
            web.get("/lnurlp/verify/{payment_hash:[0-9a-f]{64}}", self._verify),
            web.get("/.well-known/nostr.json", self._nip05),
        ]

    async def _pay_request(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]

        async def answer() -> object:
            params = query_values(request.query.items())
            return (await self.checkout.offer(name, params)).as_json()

        return await lud_answer(answer, "pay request")

    async def _callback(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]

        async def answer() -> object:
            return await self.checkout.invoice(name, query_values(request.query.items()))

        return await lud_answer(answer, f"pay callback for {name[:40]!r}")

    async def _verify(self, request: web.Request) -> web.Response:
        payment_hash = request.match_info["payment_hash"]
        return await lud_answer(lambda: self.checkout.verify(payment_hash), "verify")

    async def _nip05(self, request: web.Request) -> web.Response:
        return lud_json(self.checkout.nip05(request.query.get("name")))
