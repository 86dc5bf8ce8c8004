"""The JSON API under /console/api/, every endpoint and every refusal, on real sockets."""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.sessions.machine import State
from tests.console.signer import Signer, encode
from tests.console.support import ConsoleRig, console_rig
from tests.sessions.support import wait_until

READS = [
    "/console/api/fleet",
    "/console/api/chargers/cp-001",
    "/console/api/sessions",
    "/console/api/sessions?charger=cp-001&state=charging",
    "/console/api/money",
    "/console/api/money?format=csv",
    "/console/api/unclaimed",
    "/console/api/outbox",
    "/console/api/actions",
]
ACTIONS = [
    ("/console/api/chargers/cp-001/reset", {"kind": "Soft"}),
    ("/console/api/chargers/cp-001/unlock", {"connector": 1}),
    ("/console/api/chargers/cp-001/availability", {"connector": 0, "available": False}),
    ("/console/api/chargers/cp-001/trigger", {"message": "Heartbeat"}),
    ("/console/api/chargers/cp-001/refresh", {}),
    ("/console/api/reload", {}),
]


async def _json(response: aiohttp.ClientResponse) -> Any:
    assert response.content_type == "application/json", response.content_type
    return await response.json()


async def test_everything_is_closed_without_credentials(tmp_path: Path) -> None:
    async with console_rig(tmp_path) as c, aiohttp.ClientSession() as http:
        for path in [*READS, "/console/api/sessions/nope", "/console/api/events"]:
            async with http.get(c.url(path)) as answer:
                assert answer.status == 401, path
                assert "error" in await _json(answer)
                assert answer.headers["WWW-Authenticate"].startswith("Nostr")
        for path, body in ACTIONS:
            async with http.post(c.url(path), json={**body, "confirm": True}) as answer:
                assert answer.status == 401, path
        for path in ("/console", "/console/sessions", "/console/money.csv"):
            async with http.get(c.url(path)) as answer:
                assert answer.status == 401
                assert "Log in" in await answer.text()  # pages show the log-in form


async def test_a_bearer_token_opens_every_read(tmp_path: Path) -> None:
    async with console_rig(tmp_path) as c, aiohttp.ClientSession() as http:
        await c.rig.charger()
        for path in READS:
            async with http.get(c.url(path), headers=c.bearer()) as answer:
                assert answer.status == 200, path
        async with http.get(c.url("/console/api/fleet"), headers=c.bearer()) as answer:
            fleet = (await answer.json())["chargers"]
        assert [f["id"] for f in fleet] == ["cp-001"]
        assert fleet[0]["online"] is True
        assert fleet[0]["connectors"][0]["status"] == "Available"
        assert fleet[0]["price"]["msat_per_kwh"] == 250_000
        wrong = {"Authorization": "Bearer " + "0" * 64}
        async with http.get(c.url("/console/api/fleet"), headers=wrong) as answer:
            assert answer.status == 401
            assert (await answer.json())["error"] == "wrong bearer token"
        odd = {"Authorization": "Basic dXNlcjpwYXNz"}
        async with http.get(c.url("/console/api/fleet"), headers=odd) as answer:
            assert answer.status == 401


async def test_nip98_per_request_and_each_refusal(tmp_path: Path) -> None:
    async with console_rig(tmp_path) as c, aiohttp.ClientSession() as http:
        path = "/console/api/fleet"
        url = c.url(path)

        async def status(header: str, method: str = "GET", target: str = url) -> tuple[int, str]:
            async with http.request(method, target, headers={"Authorization": header}) as answer:
                return answer.status, (await answer.json())["error"] if answer.status >= 400 else ""

        assert await status(c.operator.header(url)) == (200, "")
        again = c.operator.header(url)
        assert (await status(again))[0] == 200
        assert (await status(again))[0] == 200  # a read may repeat: same URL, same second
        # What changes something is accepted once: a replayed header is refused.
        refresh = c.url("/console/api/chargers/cp-001/refresh")
        body = json.dumps({"confirm": True}).encode()
        once = {"Authorization": c.operator.header(refresh, "POST", body=body)}
        once["Content-Type"] = "application/json"
        async with http.post(refresh, data=body, headers=once) as answer:
            assert answer.status == 200
        async with http.post(refresh, data=body, headers=once) as answer:
            assert answer.status == 401
            assert (await answer.json())["error"] == "this authorization event was used before"
        assert c.refreshed == ["cp-001"]
        assert (await status(c.operator.header(url + "?x=1")))[0] == 401  # u must match exactly
        assert (await status(c.operator.header(url, "POST")))[1].startswith("event method tag")
        old = c.operator.header(url, created_at=int(time.time()) - 120)
        assert (await status(old))[1].startswith("event created_at")
        assert (await status(c.operator.header(url, kind=1)))[1].startswith("event kind")
        event = c.operator.auth_event(url)
        event["sig"] = ("0" if event["sig"][0] != "0" else "1") + event["sig"][1:]
        assert await status(encode(event)) == (401, "event signature is not valid")
        event = c.operator.auth_event(url)
        event["tags"].append(["x", "tampered"])
        assert await status(encode(event)) == (401, "event id does not match its content")
        assert (await status("Nostr !!!notbase64"))[0] == 401
        assert (await status("Nostr " + "e30="))[0] == 401  # {} is no event
        stranger = Signer().header(url)
        code, reason = await status(stranger)
        assert code == 403 and "is not an operator" in reason
        # A body is bound by the payload tag when the client sends one.
        reload_url = c.url("/console/api/reload")
        body = json.dumps({"confirm": True}).encode()
        header = c.operator.header(reload_url, "POST", body=b"something else")
        headers = {"Authorization": header, "Content-Type": "application/json"}
        async with http.post(reload_url, data=body, headers=headers) as answer:
            assert answer.status == 401
            assert "payload" in (await answer.json())["error"]


async def test_sessions_filters_and_one_session(tmp_path: Path) -> None:
    async with (
        console_rig(tmp_path, chargers=("cp-001", "cp-002")) as c,
        aiohttp.ClientSession() as http,
    ):
        await c.rig.charger("cp-001")
        first = await c.rig.paid_session(2_000_000, charger_id="cp-001")
        await c.rig.reaches(first.id, State.CHARGING)
        quoted = await c.rig.quoted(charger_id="cp-002")

        async def ids(query: str) -> list[str]:
            async with http.get(c.url("/console/api/sessions" + query), headers=c.bearer()) as a:
                assert a.status == 200, await a.text()
                return [s["id"] for s in (await a.json())["sessions"]]

        assert set(await ids("")) == {first.id, quoted.id}
        assert await ids("?charger=cp-001") == [first.id]
        assert await ids("?state=quoted") == [quoted.id]
        assert await ids("?state=charging&charger=cp-002") == []
        today = time.strftime("%Y-%m-%d", time.gmtime())
        assert set(await ids(f"?day={today}")) == {first.id, quoted.id}
        assert await ids("?day=2001-01-01") == []
        assert set(await ids("?since=1h")) == {first.id, quoted.id}
        assert await ids(f"?since={int(time.time()) + 3600}") == []
        for bad in ("?state=flying", "?day=yesterday", "?since=soon", "?limit=0"):
            async with http.get(c.url("/console/api/sessions" + bad), headers=c.bearer()) as a:
                assert a.status == 400, bad
        async with http.get(c.url(f"/console/api/sessions/{first.id}"), headers=c.bearer()) as a:
            one = await a.json()
        assert one["state"] == "charging" and one["paid_msat"] == 2_000_000
        assert one["charger_id"] == "cp-001" and one["refund"] is None
        assert one["meter_log"]["ok"] is True
        assert "token" not in one and first.token not in json.dumps(one)
        async with http.get(c.url("/console/api/sessions/nope"), headers=c.bearer()) as a:
            assert a.status == 404
        async with http.get(c.url("/console/api/chargers/cp-009"), headers=c.bearer()) as a:
            assert a.status == 404


async def test_stop_action_settles_and_refunds_through_the_session_code(tmp_path: Path) -> None:
    async with console_rig(tmp_path) as c, aiohttp.ClientSession() as http:
        sim = await c.rig.charger(clock_speed=10.0)
        session = await c.rig.paid_session(2_000_000)
        await c.rig.reaches(session.id, State.CHARGING)
        path = f"/console/api/sessions/{session.id}/stop"
        async with http.post(c.url(path), json={}, headers=c.bearer()) as answer:
            assert answer.status == 400  # not confirmed
        assert await c.rig.state_of(session.id) is State.CHARGING
        async with http.post(c.url(path), json={"confirm": True}, headers=c.bearer()) as answer:
            assert answer.status == 200
            result = await answer.json()
        assert result["ok"] is True and "Stopping" in result["message"]
        done = await c.rig.reaches(session.id, State.REFUNDING, State.CLOSED)
        assert done.stop_reason == "operator_stop"
        assert sim.commands("RemoteStopTransaction")
        async with http.post(c.url(path), json={"confirm": True}, headers=c.bearer()) as answer:
            assert "already" in (await answer.json())["message"]  # a second stop is harmless
        async with http.get(c.url("/console/api/actions"), headers=c.bearer()) as answer:
            log = (await answer.json())["actions"]
        assert [(a["action"], a["target"], a["outcome"]) for a in log][-1] == (
            "stop",
            session.id,
            "done",
        )
        assert all(a["operator"].startswith("token:") for a in log)
        assert c.token not in json.dumps(log)


async def test_retry_refund_is_refused_unless_refunding(tmp_path: Path) -> None:
    async with console_rig(tmp_path) as c, aiohttp.ClientSession() as http:
        session = await c.rig.quoted()
        path = f"/console/api/sessions/{session.id}/retry-refund"
        async with http.post(c.url(path), json={"confirm": True}, headers=c.bearer()) as answer:
            assert answer.status == 409
            assert "no refund to retry" in (await answer.json())["error"]
        async with http.post(
            c.url("/console/api/sessions/nope/stop"), json={"confirm": True}, headers=c.bearer()
        ) as answer:
            assert answer.status == 404
        async with http.post(
            c.url(f"/console/api/sessions/{session.id}/reset"),
            json={"confirm": True},
            headers=c.bearer(),
        ) as answer:
            assert answer.status == 404  # reset is a charger action


@pytest.mark.parametrize(
    ("path", "body", "command", "answer"),
    [
        ("reset", {"kind": "Hard"}, "Reset", "Accepted"),
        ("unlock", {"connector": 1}, "UnlockConnector", "Unlocked"),
        ("availability", {"connector": 0, "available": False}, "ChangeAvailability", "Accepted"),
        ("trigger", {"message": "StatusNotification"}, "TriggerMessage", "Accepted"),
    ],
)
@pytest.mark.parametrize("ocpp", ["1.6", "2.0.1"])
async def test_charger_commands_reach_the_charger(  # noqa: PLR0917 -- pytest parameters
    tmp_path: Path, path: str, body: dict[str, Any], command: str, answer: str, ocpp: str
) -> None:
    # The same console action becomes each protocol's own message (ChargerOperations).
    async with console_rig(tmp_path, ocpp=ocpp) as c, aiohttp.ClientSession() as http:
        sim = await c.rig.charger()
        url = c.url(f"/console/api/chargers/cp-001/{path}")
        async with http.post(url, json={**body, "confirm": True}, headers=c.bearer()) as reply:
            assert reply.status == 200, await reply.text()
            result = await reply.json()
        assert result == {
            "ok": True,
            "message": result["message"],
            "answer": answer,
        }
        assert sim.commands(command)
        if path == "reset":  # a hard reset in each protocol's words
            assert sim.commands("Reset")[0]["type"] == ("Hard" if ocpp == "1.6" else "Immediate")


async def test_action_refusals(tmp_path: Path) -> None:
    async with console_rig(tmp_path) as c, aiohttp.ClientSession() as http:
        base = "/console/api/chargers/cp-001"

        async def post(path: str, body: Any) -> tuple[int, dict[str, Any]]:
            async with http.post(c.url(path), json=body, headers=c.bearer()) as reply:
                return reply.status, await reply.json()

        # Offline: the command is not sent and the answer says why.
        status, body = await post(f"{base}/reset", {"confirm": True})
        assert status == 502 and "not connected" in body["message"]
        assert (await post(f"{base}/reset", {"confirm": True, "kind": "Warm"}))[0] == 400
        assert (await post(f"{base}/unlock", {"confirm": True, "connector": "x"}))[0] == 400
        assert (await post(f"{base}/availability", {"confirm": True}))[0] == 400
        assert (await post(f"{base}/trigger", {"confirm": True, "message": "Boom"}))[0] == 400
        assert (await post(f"{base}/explode", {"confirm": True}))[0] == 404
        assert (await post("/console/api/chargers/cp-404/reset", {"confirm": True}))[0] == 404
        assert (await post(f"{base}/reset", {"confirm": "yes"}))[0] == 400
        assert (await post(f"{base}/reset", [1, 2]))[0] == 400
        status, body = await post(f"{base}/refresh", {"confirm": True})
        assert status == 200 and body["message"] == "4 event(s) queued for the relays"
        assert c.refreshed == ["cp-001"]
        status, body = await post("/console/api/reload", {"confirm": True})
        assert status == 409  # this console was built without a reload
        async with http.get(c.url("/console/api/actions"), headers=c.bearer()) as reply:
            outcomes = [(a["action"], a["outcome"]) for a in (await reply.json())["actions"]]
        assert ("reset", "failed") in outcomes and ("refresh", "done") in outcomes


async def test_money_json_and_csv(tmp_path: Path) -> None:
    async with console_rig(tmp_path) as c, aiohttp.ClientSession() as http:
        await c.rig.charger(clock_speed=10.0)
        session = await c.rig.paid_session(3_000_000)
        await c.rig.reaches(session.id, State.CHARGING)
        await c.rig.inbox.stop(await c.rig.inbox.store.load(session.id), _operator_stop())
        await c.rig.reaches(session.id, State.REFUNDING, State.CLOSED)
        await c.rig.quoted()  # unpaid: counts nowhere
        async with http.get(c.url("/console/api/money"), headers=c.bearer()) as answer:
            money = await answer.json()
        today = time.strftime("%Y-%m-%d", time.gmtime())
        [row] = money["rows"]
        settled = await c.rig.inbox.store.load(session.id)
        assert row["day"] == today and row["charger_id"] == "cp-001" and row["sessions"] == 1
        assert row["paid_msat"] == 3_000_000
        assert row["kept_msat"] == 3_000_000 - (settled.refund_msat or 0)
        assert row["owed_msat"] == (settled.refund_msat or 0)  # no refund desk in this rig
        assert row["refunded_msat"] == 0 and row["in_flight_msat"] == 0
        assert money["totals"]["paid_msat"] == 3_000_000
        async with http.get(c.url("/console/api/money?format=csv"), headers=c.bearer()) as answer:
            assert answer.content_type == "text/csv"
            rows = list(csv.DictReader(io.StringIO(await answer.text())))
        assert rows == [
            {
                "day": today,
                "charger_id": "cp-001",
                "sessions": "1",
                "paid_msat": "3000000",
                "kept_msat": str(row["kept_msat"]),
                "refunded_msat": "0",
                "owed_msat": str(row["owed_msat"]),
                "in_flight_msat": "0",
            }
        ]


async def test_charger_view_has_sessions_faults_and_meter_check(tmp_path: Path) -> None:
    async with console_rig(tmp_path) as c, aiohttp.ClientSession() as http:
        await c.rig.charger(clock_speed=10.0)
        session = await c.rig.paid_session(2_000_000)
        await c.rig.reaches(session.id, State.CHARGING)
        await wait_until(lambda: _has_readings(c, session.id), 10, "meter readings")
        await c.rig.central.chargers.record_anomaly(
            "cp-001", at=time.time(), kind="refused", detail="bad MeterValues", raw="[2,x]"
        )
        async with http.get(c.url("/console/api/chargers/cp-001"), headers=c.bearer()) as answer:
            view = await answer.json()
        assert view["charger"]["online"] is True
        assert [s["id"] for s in view["sessions"]] == [session.id]
        assert view["anomalies"][0]["detail"] == "bad MeterValues"
        [check] = view["meter_log"]
        assert check["ok"] is True and check["rows"] >= 1
        text = json.dumps(view)
        charger = c.rig.config.charger("cp-001")
        assert charger is not None
        assert charger.ocpp_password not in text and charger.keys.nsec() not in text
        assert charger.keys.secret.hex() not in text


async def _has_readings(c: ConsoleRig, session_id: str) -> bool:
    session = await c.rig.inbox.store.load(session_id)
    return session.transaction_id is not None and bool(
        await c.rig.central.meter_log.records(f"tx:{session.transaction_id}")
    )


def _operator_stop() -> Any:
    from bot.sessions.machine import Event

    return Event.OPERATOR_STOP


async def test_a_refund_offer_shows_its_state_never_its_k1(tmp_path: Path) -> None:
    from bot.sessions.refunding import refund_rows

    async with console_rig(tmp_path) as c, aiohttp.ClientSession() as http:
        await c.rig.charger(clock_speed=10.0)
        session = await c.rig.paid_session(2_000_000)
        await c.rig.reaches(session.id, State.CHARGING)
        await c.rig.inbox.stop(await c.rig.inbox.store.load(session.id), _operator_stop())
        refunding = await c.rig.reaches(session.id, State.REFUNDING)
        assert refunding.refund_msat
        offer = await refund_rows(c.rig.db).offer_withdraw(session.id, refunding.refund_msat, 3600)
        assert offer is not None and offer.k1
        async with http.get(c.url(f"/console/api/sessions/{session.id}"), headers=c.bearer()) as a:
            found = await a.json()
        assert found["refund"]["status"] == "offered"
        assert found["refund"]["amount_msat"] == refunding.refund_msat
        assert offer.k1 not in json.dumps(found)
        for path in (f"/console/sessions/{session.id}", "/console/sessions"):
            async with http.get(c.url(path), headers=c.bearer()) as answer:
                page = await answer.text()
            assert "offered" in page and offer.k1 not in page
        # Retrying a refund that is in `refunding` is accepted and logged.
        path = f"/console/api/sessions/{session.id}/retry-refund"
        async with http.post(c.url(path), json={"confirm": True}, headers=c.bearer()) as answer:
            assert answer.status == 200
            assert (await answer.json())["message"] == "the refund is being tried again now"
