"""The reservation page (aiohttp, so it lives with the HTTP side), for drivers who paid
the fee from a wallet without nostr (the fee invoice's LUD-09 success URL); nostr drivers
get the same by DM.

Routes (a :class:`~bot.lnurl.server.RouteProvider`)::

    GET  /r/<token>               HTML; polls the JSON below every few seconds
    GET  /r/<token>/status.json   state, until when, the charge link, where the refund is
    POST /r/<token>/cancel        the driver's cancel (the rule of ``machine.cancel_refund``)

While the connector is held, the page shows the *charge link*: the connector's LNURL-pay
with ``?reservation=<token>``, the only payment (besides a zap from the same nostr key) the
reserved connector takes. A refund goes through a refund-only session: the page links to
that session's page, which shows the withdraw QR. The token (256 random bits) is the only
secret in the URL; an unknown token gets a plain 404.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence

import segno
from aiohttp import web

from bot.reservations.book import Reservation
from bot.reservations.machine import State
from bot.reservations.service import ReservationService
from bot.sessions.records import SessionRecords
from bot.sessions.settlement import format_msat

__all__ = ["ReservationPage"]

_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",  # the token must not leak to other sites
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; script-src 'unsafe-inline'; "
    "style-src 'unsafe-inline'; img-src data:; connect-src 'self'",
}


class ReservationPage:
    def __init__(
        self,
        service: ReservationService,
        sessions: SessionRecords,
        public_url: str,
        encode_lnurl: Callable[[str], str],
    ) -> None:
        self.service, self.sessions = service, sessions
        self.public_url, self.encode_lnurl = public_url, encode_lnurl

    def routes(self) -> Sequence[web.RouteDef]:
        return [
            web.get("/r/{token}", self.page),
            web.get("/r/{token}/status.json", self.status),
            web.post("/r/{token}/cancel", self.cancel),
        ]

    async def _reservation(self, request: web.Request) -> Reservation:
        token = request.match_info["token"]
        found = await self.service.store.by_token(token) if len(token) < 100 else None
        if found is None or found.state is State.QUOTED:
            raise web.HTTPNotFound(text="no such reservation\n", headers=_HEADERS)
        return found

    async def snapshot(self, r: Reservation) -> dict[str, object]:
        numbers: dict[str, object] = {
            "state": r.state.value,
            "charger_id": r.charger_id,
            "connector_id": r.connector_id,
            "fee_msat": r.paid_msat,
            "minutes": r.minutes,
            "expires_at": r.expires_at,
            "kept_msat": r.kept_msat,
            "refund_msat": r.refund_msat,
            "end_reason": r.end_reason,
            "charge_lnurl": None,
            "charge_qr_svg": None,
            "refund_page": None,
        }
        if r.state is State.RESERVED:
            url = f"{self.public_url}/.well-known/lnurlp/{r.charger_id}.{r.connector_id}"
            lnurl = self.encode_lnurl(f"{url}?reservation={r.token}")
            numbers["charge_lnurl"] = lnurl
            numbers["charge_qr_svg"] = segno.make(lnurl.upper()).svg_inline(scale=4)
        if r.refund_session_id is not None:
            refund = await self.sessions.get(r.refund_session_id)
            if refund is not None:
                numbers["refund_page"] = f"{self.public_url}/s/{refund.token}"
        return numbers

    async def status(self, request: web.Request) -> web.Response:
        found = await self._reservation(request)
        return web.json_response(await self.snapshot(found), headers=_HEADERS)

    async def cancel(self, request: web.Request) -> web.Response:
        found = await self._reservation(request)
        message = await self.service.cancel(found)
        return web.json_response({"message": message}, headers=_HEADERS)

    async def page(self, request: web.Request) -> web.Response:
        found = await self._reservation(request)
        body = _PAGE.format(
            charger=html.escape(found.charger_id),
            connector=found.connector_id,
            fee=html.escape(format_msat(found.paid_msat)),
            token=html.escape(request.match_info["token"], quote=True),
        )
        return web.Response(text=body, content_type="text/html", headers=_HEADERS)


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Zapcharge reservation</title>
<style>body{{font-family:sans-serif;max-width:32em;margin:2em auto;padding:0 1em}}
button{{font-size:1.2em;padding:.4em 1.2em}}</style></head>
<body><h1>Reservation</h1>
<p>Charger {charger}, connector {connector} &middot; fee {fee}</p>
<p id="state"></p>
<div id="charge"></div>
<p><button id="cancel">Cancel reservation</button> <span id="msg"></span></p>
<p id="refund"></p>
<script>
const base = "/r/{token}";
async function poll() {{
  const r = await fetch(base + "/status.json", {{cache: "no-store"}});
  if (!r.ok) return;
  const s = await r.json();
  let line = "State: " + s.state.replace("_", " ");
  if (s.state === "reserved" && s.expires_at)
    line += ", held until " + new Date(s.expires_at * 1000).toLocaleTimeString();
  document.getElementById("state").textContent = line;
  document.getElementById("charge").innerHTML = s.charge_qr_svg ?
    "<p>Pay with this link to charge (the fee counts toward it):</p>" + s.charge_qr_svg : "";
  const refund = document.getElementById("refund");
  refund.replaceChildren();
  if (s.refund_page) {{ const a = document.createElement("a"); a.href = s.refund_page;
    a.textContent = "Your refund"; refund.appendChild(a); }}
  document.getElementById("cancel").disabled = s.state !== "reserved";
}}
document.getElementById("cancel").onclick = async () => {{
  const r = await fetch(base + "/cancel", {{method: "POST"}});
  document.getElementById("msg").textContent = (await r.json()).message;
  poll();
}};
poll(); setInterval(poll, 3000);
</script></body></html>
"""
