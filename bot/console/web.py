"""The console's routes on the bot's HTTP server: pages under ``/console``, JSON under
``/console/api/`` (see :mod:`bot.console.api`), the event stream and the log-in.

Every route but the log-in page and the two static scripts goes through :meth:`Console.
guarded`: no valid credentials -> 401 (pages show the log-in form), not an operator -> 403;
each refusal is logged with the method, path, peer and reason, never with a credential.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from importlib import resources
from typing import Any

from aiohttp import web

from bot.console import pages
from bot.console.actions import ACTIONS, Actions, parse_params
from bot.console.auth import Gate, Operator
from bot.console.html import HEADERS, layout, login_page
from bot.console.query import parse_since, session_filter
from bot.console.views import Views
from bot.errors import AuthRefused, ConsoleError

__all__ = ["Console", "Handler"]

log = logging.getLogger("bot.console")

Handler = Callable[[web.Request, Operator], Awaitable[web.StreamResponse]]
MONEY_COLUMNS = (
    "day",
    "charger_id",
    "sessions",
    "paid_msat",
    "kept_msat",
    "refunded_msat",
    "owed_msat",
    "in_flight_msat",
)


def _static(name: str) -> str:
    return resources.files("bot.console").joinpath("static", name).read_text(encoding="utf-8")


class Console:
    """A RouteProvider: the console's pages, API and event stream."""

    def __init__(
        self,
        gate: Gate,
        views: Views,
        actions: Actions,
        *,
        clock: Callable[[], float] = time.time,
        live_interval_s: float = 2.0,
        live_max_s: float = 600.0,
    ) -> None:
        self.gate, self.views, self.actions, self.clock = gate, views, actions, clock
        self.live_interval_s, self.live_max_s = live_interval_s, live_max_s
        self._scripts = {name: _static(name) for name in ("live.js", "login.js")}

    def routes(self) -> Sequence[web.RouteDef]:
        from bot.console.api import api_routes

        page, g = self.page, self.guarded
        return [
            web.get("/console/static/{name}", self.static),
            web.get("/console/login", self.login_form),
            web.post("/console/login", self.log_in),
            web.post("/console/logout", self.guarded(self.log_out)),
            web.get("/console", self.guarded(page("fleet", "Fleet", self._fleet))),
            web.get("/console/", self.guarded(page("fleet", "Fleet", self._fleet))),
            web.get("/console/chargers/{id}", g(page("fleet", "Charger", self._charger))),
            web.get("/console/sessions", g(page("sessions", "Sessions", self._sessions))),
            web.get(
                "/console/sessions/{id}", self.guarded(page("sessions", "Session", self._session))
            ),
            web.get("/console/money", self.guarded(page("money", "Money", self._money))),
            web.get("/console/money.csv", self.guarded(self.money_csv)),
            web.get(
                "/console/unclaimed",
                self.guarded(page("unclaimed", "Unclaimed payments", self._unclaimed)),
            ),
            web.get("/console/outbox", self.guarded(page("outbox", "Outbox", self._outbox))),
            web.get("/console/actions", self.guarded(page("actions", "Actions log", self._log))),
            web.get(
                "/console/confirm/{action}/{target}",
                self.guarded(page("fleet", "Confirm", self._confirm)),
            ),
            web.post("/console/do/{action}/{target}", self.guarded(self.do)),
            web.get("/console/events", self.guarded(self.events, api=True)),
            *api_routes(self),
        ]

    # -- access -----------------------------------------------------------------------------

    def guarded(self, handler: Handler, *, api: bool = False) -> Callable[..., Any]:
        async def checked(request: web.Request) -> web.StreamResponse:
            try:
                operator = await self.gate.operator(request)
            except AuthRefused as refusal:
                return self.refused(request, refusal, api=api)
            try:
                return await handler(request, operator)
            except AuthRefused as refusal:  # CSRF and the like, after log-in
                return self.refused(request, refusal, api=api)
            except ConsoleError as error:
                return self.failed(error, api=api, operator=operator)

        return checked

    def refused(self, request: web.Request, refusal: AuthRefused, *, api: bool) -> web.Response:
        peer = request.remote or "?"
        log.warning(
            "console: refused %s %s from %s: %d %s",
            request.method,
            request.path[:100],
            peer,
            refusal.status,
            refusal.reason,
        )
        status = refusal.status or 401
        headers = dict(HEADERS)
        if status == 401:
            headers["WWW-Authenticate"] = 'Nostr realm="zapcharge console"'
        if api:
            return web.json_response({"error": refusal.reason}, status=status, headers=headers)
        body = login_page(self.gate.login_url, refusal.reason, _safe_next(request.path_qs))
        return web.Response(text=body, status=status, content_type="text/html", headers=headers)

    def failed(self, error: ConsoleError, *, api: bool, operator: Operator) -> web.Response:
        status = error.status or 400
        if api:
            return web.json_response({"error": str(error)}, status=status, headers=HEADERS)
        body = pages.result_page(False, str(error), "/console")
        return self._html("Error", "", body, operator, status=status)

    async def static(self, request: web.Request) -> web.Response:
        script = self._scripts.get(request.match_info["name"])
        if script is None:
            raise web.HTTPNotFound(headers=HEADERS)
        return web.Response(text=script, content_type="text/javascript", headers=HEADERS)

    async def login_form(self, request: web.Request) -> web.Response:
        body = login_page(self.gate.login_url, "", _safe_next(request.query.get("next", "")))
        return web.Response(text=body, content_type="text/html", headers=HEADERS)

    async def log_in(self, request: web.Request) -> web.StreamResponse:
        header = request.headers.get("Authorization")
        body = await request.read()
        form = await request.post() if header is None else {}
        event = header or str(form.get("event", ""))
        wants_json = header is not None
        try:
            origin = request.headers.get("Origin")
            if origin is not None and origin != self.gate.origin:
                raise AuthRefused(f"cross-site log-in from origin {origin[:80]!r}", 403)
            if not event.strip():
                raise AuthRefused("no signed event given")
            operator, sid = self.gate.log_in(event, body if header else b"")
        except AuthRefused as refusal:
            return self.refused(request, refusal, api=wants_json)
        log.info("console: %s logged in", operator.name)
        target = _safe_next(str(form.get("next", ""))) if form else "/console"
        response: web.StreamResponse
        if wants_json:
            response = web.json_response({"operator": operator.name}, headers=HEADERS)
        else:
            response = web.Response(status=303, headers={**HEADERS, "Location": target})
        self.gate.set_cookie(response, sid)
        return response

    async def log_out(self, request: web.Request, operator: Operator) -> web.StreamResponse:
        form = await request.post()
        self.gate.check_csrf(request, operator, str(form.get("csrf", "")))
        self.gate.log_out(operator)
        log.info("console: %s logged out", operator.name)
        response = web.Response(status=303, headers={**HEADERS, "Location": "/console/login"})
        response.del_cookie("zapcharge_console", path="/console")
        return response

    # -- pages ------------------------------------------------------------------------------

    def page(
        self, here: str, title: str, render: Callable[[web.Request, Operator], Awaitable[str]]
    ) -> Handler:
        async def handler(request: web.Request, operator: Operator) -> web.StreamResponse:
            return self._html(title, here, await render(request, operator), operator)

        return handler

    def _html(
        self, title: str, here: str, body: str, operator: Operator, *, status: int = 200
    ) -> web.Response:
        csrf = self.gate.csrf_token(operator)
        text = layout(title, here, body, operator=operator.name, csrf=csrf)
        return web.Response(text=text, status=status, content_type="text/html", headers=HEADERS)

    async def _fleet(self, request: web.Request, operator: Operator) -> str:
        return pages.fleet_page(await self.views.fleet())

    async def _charger(self, request: web.Request, operator: Operator) -> str:
        charger = self.views.charger_config(request.match_info["id"])
        if charger is None:
            raise ConsoleError(f"no charger {request.match_info['id'][:40]}", 404)
        return pages.charger_page(await self.views.charger(charger))

    async def _sessions(self, request: web.Request, operator: Operator) -> str:
        query = dict(request.query)
        found = await self.views.sessions(session_filter(query, self.clock()))
        return pages.sessions_page(found, query)

    async def _session(self, request: web.Request, operator: Operator) -> str:
        found = await self.views.session(request.match_info["id"])
        if found is None:
            raise ConsoleError(f"no session {request.match_info['id'][:40]}", 404)
        return pages.session_page(found)

    async def _money(self, request: web.Request, operator: Operator) -> str:
        return pages.money_page(await self.views.money(self._since(request)))

    def _since(self, request: web.Request) -> float | None:
        since = request.query.get("since")
        return parse_since(since, self.clock()) if since else None

    async def money_csv(self, request: web.Request, operator: Operator) -> web.StreamResponse:
        money = await self.views.money(self._since(request))
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=MONEY_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(money["rows"])
        headers = {**HEADERS, "Content-Disposition": 'attachment; filename="zapcharge-money.csv"'}
        return web.Response(text=out.getvalue(), content_type="text/csv", headers=headers)

    async def _unclaimed(self, request: web.Request, operator: Operator) -> str:
        return pages.unclaimed_page(await self.views.unclaimed())

    async def _outbox(self, request: web.Request, operator: Operator) -> str:
        return pages.outbox_page(await self.views.outbox())

    async def _log(self, request: web.Request, operator: Operator) -> str:
        return pages.actions_page(await self.views.actions())

    async def _confirm(self, request: web.Request, operator: Operator) -> str:
        action, target = request.match_info["action"], request.match_info["target"]
        params = parse_params(action, request.query)
        warning = ""
        if ACTIONS[action].target == "charger":
            charger = self.views.charger_config(target)
            if charger is None:
                raise ConsoleError(f"no charger {target[:40]}", 404)
            running = await self.views.sessions(session_filter({"charger": target}, 0))
            busy = [s["id"] for s in running if s["state"] in ("charging", "starting")]
            if busy and action in ("reset", "unlock", "availability"):
                warning = f"Session(s) running on this charger: {', '.join(busy)}."
        return pages.confirm_page(action, target, params, self.gate.csrf_token(operator), warning)

    async def do(self, request: web.Request, operator: Operator) -> web.StreamResponse:
        action, target = request.match_info["action"], request.match_info["target"]
        form = await request.post()
        self.gate.check_csrf(request, operator, str(form.get("csrf", "")))
        params = parse_params(action, {k: str(v) for k, v in form.items()})
        if form.get("confirm") != "yes":
            raise ConsoleError("not confirmed: use the confirmation page", 400)
        result = await self.actions.run(operator, action, target, params)
        kind = ACTIONS[action].target
        back = {"session": f"/console/sessions/{target}", "charger": f"/console/chargers/{target}"}
        body = pages.result_page(result.ok, result.message, back.get(kind, "/console"))
        return self._html(ACTIONS[action].title, "", body, operator)

    # -- live updates -----------------------------------------------------------------------

    async def events(self, request: web.Request, operator: Operator) -> web.StreamResponse:
        """Server-sent events: the fleet's link and connector states whenever they change,
        a comment every 15 s to keep proxies from closing the stream; it ends after
        ``live_max_s`` and the browser's EventSource opens it again."""
        response = web.StreamResponse(
            headers={**HEADERS, "Content-Type": "text/event-stream", "X-Accel-Buffering": "no"}
        )
        await response.prepare(request)
        last, quiet = "", 0.0
        deadline = self.clock() + self.live_max_s
        while self.clock() < deadline:
            if request.transport is None or request.transport.is_closing():
                break  # the browser went away (or the server is shutting down)
            fleet = [
                {"id": c["id"], "online": c["online"], "connectors": c["connectors"]}
                for c in await self.views.fleet(prices=False)
            ]
            text = json.dumps(fleet, sort_keys=True)
            if text != last:
                await response.write(f"event: fleet\ndata: {text}\n\n".encode())
                last, quiet = text, 0.0
            elif quiet >= 15.0:
                await response.write(b": still here\n\n")
                quiet = 0.0
            await asyncio.sleep(self.live_interval_s)
            quiet += self.live_interval_s
        return response


def _safe_next(path: str) -> str:
    """Only our own console paths: never an open redirect."""
    if path.startswith("/console") and not path.startswith("//") and "\\" not in path:
        return path if not path.startswith("/console/login") else "/console"
    return "/console"
