"""The console's pages with a log-in cookie: log-in, each page, CSRF, the stream, log-out."""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path

import aiohttp

from bot.sessions.machine import State
from tests.console.support import ConsoleRig, console_rig
from tests.helpers import scaled

PAGES = [
    ("/console", "Fleet"),
    ("/console/chargers/cp-001", "Meter log check"),
    ("/console/sessions", "DMs sent"),
    ("/console/sessions?charger=cp-001&state=charging", "Filter"),
    ("/console/money", "<svg"),
    ("/console/unclaimed", "no session accounts for"),
    ("/console/outbox", "waiting for a relay"),
    ("/console/actions", "operator"),
]


def _jar() -> aiohttp.CookieJar:
    return aiohttp.CookieJar(unsafe=True)  # the console is on 127.0.0.1 here


async def _log_in(c: ConsoleRig, http: aiohttp.ClientSession) -> None:
    headers = {"Authorization": c.operator.header(c.url("/console/login"), "POST")}
    async with http.post(c.url("/console/login"), headers=headers) as answer:
        assert answer.status == 200, await answer.text()
        assert (await answer.json())["operator"].startswith("npub1")
        cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/console" in cookie


def _csrf(page: str) -> str:
    match = re.search(r'name="csrf" value="([0-9a-f]{64})"', page)
    assert match, "no CSRF token on the page"
    return match.group(1)


async def test_log_in_then_read_every_page(tmp_path: Path) -> None:
    async with console_rig(tmp_path) as c, aiohttp.ClientSession(cookie_jar=_jar()) as http:
        await c.rig.charger()
        session = await c.rig.paid_session(2_000_000)
        await c.rig.reaches(session.id, State.CHARGING)
        async with http.get(c.url("/console/login")) as answer:
            form = await answer.text()
        assert f'data-login-url="{c.base}/console/login"' in form
        await _log_in(c, http)
        charger = c.rig.config.charger("cp-001")
        assert charger is not None
        for path, marker in [*PAGES, (f"/console/sessions/{session.id}", "Stop this session")]:
            async with http.get(c.url(path)) as answer:
                assert answer.status == 200, path
                assert answer.headers["Cache-Control"] == "no-store"
                assert "frame-ancestors 'none'" in answer.headers["Content-Security-Policy"]
                page = await answer.text()
            assert marker in page, path
            assert session.token not in page and charger.ocpp_password not in page
            assert charger.keys.nsec() not in page
        async with http.get(c.url("/console")) as answer:
            fleet = await answer.text()
        assert 'data-live="online:cp-001">online<' in fleet
        async with http.get(c.url("/console/money.csv")) as answer:
            assert answer.headers["Content-Disposition"].startswith("attachment")
            assert (await answer.text()).startswith("day,charger_id,sessions,paid_msat")


async def test_log_in_with_a_pasted_event_and_no_javascript(tmp_path: Path) -> None:
    async with console_rig(tmp_path) as c, aiohttp.ClientSession(cookie_jar=_jar()) as http:
        event = json.dumps(c.operator.auth_event(c.url("/console/login"), "POST"))
        form = {"event": event, "next": "/console/outbox"}
        async with http.post(c.url("/console/login"), data=form, allow_redirects=False) as answer:
            assert answer.status == 303
            assert answer.headers["Location"] == "/console/outbox"
        async with http.get(c.url("/console/outbox")) as answer:
            assert answer.status == 200
        # The same event again is a replay; a foreign "next" never redirects away.
        async with http.post(c.url("/console/login"), data=form, allow_redirects=False) as answer:
            assert answer.status == 401
        event = json.dumps(
            c.operator.auth_event(c.url("/console/login"), "POST", created_at=int(time.time()) - 1)
        )
        form = {"event": event, "next": "//evil.example/console"}
        async with http.post(c.url("/console/login"), data=form, allow_redirects=False) as answer:
            assert answer.headers["Location"] == "/console"


async def test_actions_need_confirmation_and_the_csrf_token(tmp_path: Path) -> None:
    async with console_rig(tmp_path) as c, aiohttp.ClientSession(cookie_jar=_jar()) as http:
        await c.rig.charger(clock_speed=10.0)
        session = await c.rig.paid_session(2_000_000)
        await c.rig.reaches(session.id, State.CHARGING)
        await _log_in(c, http)
        async with http.get(c.url(f"/console/confirm/stop/{session.id}")) as answer:
            confirm = await answer.text()
        assert "RemoteStopTransaction" in confirm
        token = _csrf(confirm)
        target = c.url(f"/console/do/stop/{session.id}")
        async with http.post(target, data={"confirm": "yes"}) as answer:
            assert answer.status == 403  # no CSRF token
        async with http.post(target, data={"confirm": "yes", "csrf": "0" * 64}) as answer:
            assert answer.status == 403
        cross = {"Origin": "https://evil.example"}
        async with http.post(
            target, data={"confirm": "yes", "csrf": token}, headers=cross
        ) as answer:
            assert answer.status == 403
        async with http.post(target, data={"csrf": token}) as answer:
            assert answer.status == 400  # not confirmed
        api = c.url(f"/console/api/sessions/{session.id}/stop")
        async with http.post(api, json={"confirm": True}) as answer:
            assert answer.status == 403  # the API with a cookie needs X-CSRF-Token too
        assert await c.rig.state_of(session.id) is State.CHARGING
        async with http.post(
            target, data={"confirm": "yes", "csrf": token}, headers={"Origin": c.base}
        ) as answer:
            assert answer.status == 200
            assert "Stopping" in await answer.text()
        done = await c.rig.reaches(session.id, State.REFUNDING, State.CLOSED)
        assert done.stop_reason == "operator_stop"
        async with http.get(c.url("/console/actions")) as answer:
            log = await answer.text()
        assert c.operator.pubkey not in log and "npub1" in log and "stop" in log


async def test_the_event_stream_sends_the_fleet(tmp_path: Path) -> None:
    async with console_rig(tmp_path) as c, aiohttp.ClientSession(cookie_jar=_jar()) as http:
        await c.rig.charger()
        await _log_in(c, http)
        async with http.get(c.url("/console/events")) as answer:
            assert answer.content_type == "text/event-stream"
            first = await asyncio.wait_for(answer.content.readuntil(b"\n\n"), scaled(5))
        name, data = first.decode().strip().split("\n")
        assert name == "event: fleet"
        fleet = json.loads(data.removeprefix("data: "))
        assert fleet[0]["id"] == "cp-001" and fleet[0]["online"] is True


async def test_log_out_ends_the_cookie(tmp_path: Path) -> None:
    async with console_rig(tmp_path) as c, aiohttp.ClientSession(cookie_jar=_jar()) as http:
        await _log_in(c, http)
        async with http.get(c.url("/console")) as answer:
            token = _csrf(await answer.text())
        async with http.post(c.url("/console/logout"), data={"csrf": "bad"}) as answer:
            assert answer.status == 403
        cookie = next(iter(http.cookie_jar)).value
        async with http.post(
            c.url("/console/logout"), data={"csrf": token}, allow_redirects=False
        ) as answer:
            assert answer.status == 303
        async with http.get(
            c.url("/console/api/fleet"), headers={"Cookie": f"zapcharge_console={cookie}"}
        ) as answer:
            assert answer.status == 401  # the old cookie is dead on the server too


async def test_a_stranger_gets_403_and_the_static_scripts_are_public(tmp_path: Path) -> None:
    from tests.console.signer import Signer

    async with console_rig(tmp_path) as c, aiohttp.ClientSession(cookie_jar=_jar()) as http:
        headers = {"Authorization": Signer().header(c.url("/console/login"), "POST")}
        async with http.post(c.url("/console/login"), headers=headers) as answer:
            assert answer.status == 403
            assert "not an operator" in (await answer.json())["error"]
        assert not list(http.cookie_jar)
        for name in ("live.js", "login.js"):
            async with http.get(c.url(f"/console/static/{name}")) as answer:
                assert answer.status == 200 and answer.content_type == "text/javascript"
        async with http.get(c.url("/console/static/nope.js")) as answer:
            assert answer.status == 404
