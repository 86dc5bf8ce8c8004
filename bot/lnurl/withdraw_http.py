"""LNURL-withdraw (LUD-03) over HTTP, for refunds; :class:`Refunds` does the work.

- ``GET /lnurlw/<k1>``: the withdraw request (what the link in the DM or QR code opens);
- ``GET /lnurlw/callback?k1=..&pr=..``: the wallet's invoice; answered once the payment
  is done (``OK``), failed (``ERROR`` with the reason), or still in flight (``OK``: the
  wallet waits for the money, and the refund row stays pending until the node knows).

Paying before answering departs from LUD-03's "answer, then pay" so that a failed payment
reaches the wallet as an error. The handler is not cancelled when the wallet hangs up
(aiohttp's default), so a payment that outlasts the wallet's patience still completes and
is recorded. The k1 is a bearer secret: it is in the URL, and in no log line.
"""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import web

from bot.lnurl.answers import lud_answer
from bot.lnurl.protocol import ok_response, query_values
from bot.lnurl.refunds import Refunds

__all__ = ["WithdrawEndpoints"]


class WithdrawEndpoints:
    """A RouteProvider for the HTTP server."""

    def __init__(self, refunds: Refunds) -> None:
        self.refunds = refunds

    def routes(self) -> Sequence[web.RouteDef]:
        return [
            web.get("/lnurlw/callback", self._callback),
            web.get("/lnurlw/{k1:[0-9a-f]{64}}", self._withdraw_request),
        ]

    async def _withdraw_request(self, request: web.Request) -> web.Response:
        k1 = request.match_info["k1"]

        async def answer() -> object:
            return (await self.refunds.withdraw_request(k1)).as_json()

        return await lud_answer(answer, "withdraw request")

    async def _callback(self, request: web.Request) -> web.Response:
        async def answer() -> object:
            await self.refunds.redeem(query_values(request.query.items()))
            return ok_response()

        return await lud_answer(answer, "withdraw callback")
