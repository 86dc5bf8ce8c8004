"""The session page: live progress, a stop button and the refund QR, behind the page token.

Routes (a :class:`~bot.lnurl.server.RouteProvider`)::

    GET  /s/<token>               HTML; polls the JSON below every few seconds
    GET  /s/<token>/status.json   the live numbers (and the refund QR once there is one)
    POST /s/<token>/stop          the stop action (PAGE_STOP); a second one is harmless

``/session/<token>`` serves the same page: it is the LUD-09 success URL the pay side hands
out. The token (256 random bits) is the only secret in the URL; an unknown token gets a
plain 404, the same for every wrong guess. The withdraw QR shows only a live LNURL-withdraw
offer of this session, for drivers who paid without nostr (nostr drivers get it by DM).
"""

from __future__ import annotations

import html
from collections.abc import Sequence

import segno
from aiohttp import web

from bot.sessions.inbox import SessionInbox
from bot.sessions.machine import Event
from bot.sessions.record import Session
from bot.sessions.refunding import RefundDesk
from bot.sessions.settlement import format_msat
from bot.store.refunds import RefundStatus, RefundStore

__all__ = ["SessionPage"]

_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",  # the token must not leak to other sites
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; script-src 'unsafe-inline'; "
    "style-src 'unsafe-inline'; img-src data:; connect-src 'self'",
}


class SessionPage:
    def __init__(
        self, inbox: SessionInbox, refunds: RefundStore, desk: RefundDesk | None = None
    ) -> None:
        self.inbox = inbox
        self.refunds = refunds
        self.desk = desk

    def routes(self) -> Sequence[web.RouteDef]:
        return [
            web.get("/s/{token}", self.page),
            web.get("/session/{token}", self.page),
            web.get("/s/{token}/status.json", self.status),
            web.post("/s/{token}/stop", self.stop),
        ]

    async def _session(self, request: web.Request) -> Session:
        token = request.match_info["token"]
        session = await self.inbox.store.by_token(token) if len(token) < 100 else None
        if session is None:
            raise web.HTTPNotFound(text="no such session\n", headers=_HEADERS)
        return session

    async def snapshot(self, session: Session) -> dict[str, object]:
        numbers = self.inbox.status_numbers(session)
        refund = await self.refunds.get(session.id)
        numbers["session_id"] = session.id
        numbers["charger_id"] = session.charger_id
        numbers["refund_status"] = refund.status.value if refund else None
        numbers["refund_qr_svg"] = None
        numbers["refund_lnurl"] = None
        desk = self.desk
        if (
            refund is not None
            and refund.status is RefundStatus.OFFERED
            and desk is not None
            and session.payer_pubkey is None
            and session.refund_msat
        ):
            link = await desk.withdraw_link(session.id, session.refund_msat)
            if link is not None:
                numbers["refund_lnurl"] = link.lnurl
                numbers["refund_qr_svg"] = segno.make(link.lnurl.upper()).svg_inline(scale=4)
        return numbers

    async def status(self, request: web.Request) -> web.Response:
        session = await self._session(request)
        return web.json_response(await self.snapshot(session), headers=_HEADERS)

    async def stop(self, request: web.Request) -> web.Response:
        session = await self._session(request)
        message = await self.inbox.stop(session, Event.PAGE_STOP)
        return web.json_response({"message": message}, headers=_HEADERS)

    async def page(self, request: web.Request) -> web.Response:
        session = await self._session(request)
        token = html.escape(request.match_info["token"], quote=True)
        body = _PAGE.format(
            session_id=html.escape(session.id),
            charger=html.escape(session.charger_id),
            price=html.escape(format_msat(session.quote.price_msat_per_kwh)),
            token=token,
        )
        return web.Response(text=body, content_type="text/html", headers=_HEADERS)


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Zapcharge session</title>
<style>body{{font-family:sans-serif;max-width:32em;margin:2em auto;padding:0 1em}}
td{{padding:.2em .8em .2em 0}}button{{font-size:1.2em;padding:.4em 1.2em}}</style></head>
<body><h1>Charging session</h1>
<p>Charger {charger} &middot; {price}/kWh &middot; session {session_id}</p>
<table id="n"></table>
<p><button id="stop">Stop charging</button> <span id="msg"></span></p>
<div id="refund"></div>
<script>
const base = "/s/{token}";
function sat(m) {{ return m === null ? "-" : (m / 1000).toLocaleString() + " sat"; }}
async function poll() {{
  const r = await fetch(base + "/status.json", {{cache: "no-store"}});
  if (!r.ok) return;
  const s = await r.json();
  const rows = [["State", s.state], ["Energy", (s.energy_wh / 1000).toFixed(3) + " kWh"],
    ["Cost", sat(s.cost_msat)], ["Paid", sat(s.paid_msat)], ["Left", sat(s.remaining_msat)],
    ["Battery", s.soc_percent === null ? "-" : Math.round(s.soc_percent) + "%"],
    ["Refund", sat(s.refund_msat) + (s.refund_status ? " (" + s.refund_status + ")" : "")]];
  const t = document.getElementById("n");
  t.replaceChildren(...rows.map(([k, v]) => {{
    const tr = document.createElement("tr");
    for (const x of [k, v]) {{ const td = document.createElement("td");
      td.textContent = x; tr.appendChild(td); }}
    return tr; }}));
  if (s.refund_qr_svg) {{
    document.getElementById("refund").innerHTML =
      "<p>Scan with your wallet to withdraw your refund:</p>" + s.refund_qr_svg;
  }}
  document.getElementById("stop").disabled = !["paid", "starting", "charging"].includes(s.state);
}}
document.getElementById("stop").onclick = async () => {{
  const r = await fetch(base + "/stop", {{method: "POST"}});
  document.getElementById("msg").textContent = (await r.json()).message;
  poll();
}};
poll(); setInterval(poll, 3000);
</script></body></html>
"""
