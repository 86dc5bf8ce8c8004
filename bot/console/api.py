"""The console's JSON API under ``/console/api/``: the pages' data and actions, for scripts.

Reads are ``GET``; actions are ``POST`` with a JSON body that must hold ``"confirm": true``
(the API's confirmation; the CLI sends it once the operator said yes). Errors are
``{"error": "..."}`` with 400 (bad parameter), 401/403 (access), 404 (unknown charger,
session or action), 409 (not possible in this state). docs/console.md has examples.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bot.console.actions import ACTIONS, parse_params
from bot.console.auth import Operator
from bot.console.html import HEADERS
from bot.console.query import session_filter
from bot.errors import ConsoleError

if TYPE_CHECKING:
    from bot.console.web import Console

__all__ = ["api_routes"]

MAX_BODY_BYTES = 4096


def api_routes(console: Console) -> Sequence[web.RouteDef]:
    api = _Api(console)
    g = console.guarded
    return [
        web.get("/console/api/fleet", g(api.fleet, api=True)),
        web.get("/console/api/chargers/{id}", g(api.charger, api=True)),
        web.get("/console/api/sessions", g(api.sessions, api=True)),
        web.get("/console/api/sessions/{id}", g(api.session, api=True)),
        web.get("/console/api/money", g(api.money, api=True)),
        web.get("/console/api/unclaimed", g(api.unclaimed, api=True)),
        web.get("/console/api/outbox", g(api.outbox, api=True)),
        web.get("/console/api/actions", g(api.actions, api=True)),
        web.get("/console/api/events", g(console.events, api=True)),
        web.post("/console/api/sessions/{target}/{action}", g(api.session_action, api=True)),
        web.post("/console/api/chargers/{target}/{action}", g(api.charger_action, api=True)),
        web.post("/console/api/reload", g(api.reload, api=True)),
    ]


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, headers=HEADERS)


class _Api:
    def __init__(self, console: Console) -> None:
        self.console = console
        self.views = console.views

    async def fleet(self, request: web.Request, operator: Operator) -> web.Response:
        return _json({"chargers": await self.views.fleet()})

    async def charger(self, request: web.Request, operator: Operator) -> web.Response:
        charger = self.views.charger_config(request.match_info["id"])
        if charger is None:
            raise ConsoleError(f"no charger {request.match_info['id'][:40]}", 404)
        return _json(await self.views.charger(charger))

    async def sessions(self, request: web.Request, operator: Operator) -> web.Response:
        query = session_filter(dict(request.query), self.console.clock())
        return _json({"sessions": await self.views.sessions(query)})

    async def session(self, request: web.Request, operator: Operator) -> web.Response:
        found = await self.views.session(request.match_info["id"])
        if found is None:
            raise ConsoleError(f"no session {request.match_info['id'][:40]}", 404)
        return _json(found)

    async def money(self, request: web.Request, operator: Operator) -> web.StreamResponse:
        if request.query.get("format") == "csv":
            return await self.console.money_csv(request, operator)
        return _json(await self.views.money(self.console._since(request)))

    async def unclaimed(self, request: web.Request, operator: Operator) -> web.Response:
        return _json({"unclaimed": await self.views.unclaimed()})

    async def outbox(self, request: web.Request, operator: Operator) -> web.Response:
        return _json({"outbox": await self.views.outbox()})

    async def actions(self, request: web.Request, operator: Operator) -> web.Response:
        return _json({"actions": await self.views.actions()})

    async def session_action(self, request: web.Request, operator: Operator) -> web.Response:
        return await self._act(request, operator, "session")

    async def charger_action(self, request: web.Request, operator: Operator) -> web.Response:
        return await self._act(request, operator, "charger")

    async def reload(self, request: web.Request, operator: Operator) -> web.Response:
        return await self._act(request, operator, "fleet", action="reload", target="fleet")

    async def _act(
        self,
        request: web.Request,
        operator: Operator,
        kind: str,
        *,
        action: str | None = None,
        target: str | None = None,
    ) -> web.Response:
        action = action or request.match_info["action"]
        target = target or request.match_info["target"]
        spec = ACTIONS.get(action)
        if spec is None or spec.target != kind:
            raise ConsoleError(f"unknown {kind} action {action[:40]!r}", 404)
        self.console.gate.check_csrf(request, operator, request.headers.get("X-CSRF-Token"))
        body = await _body(request)
        if body.get("confirm") is not True:
            raise ConsoleError('not confirmed: send {"confirm": true}', 400)
        params = parse_params(action, body)
        result = await self.console.actions.run(operator, action, target, params)
        return _json(result.as_json(), 200 if result.ok else 502)


async def _body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if len(raw) > MAX_BODY_BYTES:
        raise ConsoleError("request body too large", 400)
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise ConsoleError("the body must be a JSON object", 400) from None
    if not isinstance(body, dict):
        raise ConsoleError("the body must be a JSON object", 400)
    return body
