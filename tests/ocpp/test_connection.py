"""Malformed input over a real websocket: the right CALLERROR, and the connection stays up."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from bot.errors import ChargerOffline
from bot.ocpp.connection import MAX_QUEUED_CALLS, ChargerConnection
from tests.ocpp.support import RawCharger, Site, running_central


async def still_up(raw: RawCharger) -> None:
    assert "currentTime" in await raw.ok("Heartbeat", {})


@pytest.mark.parametrize(
    ("frame", "code", "unique_id"),
    [
        ("this is not json", "FormationViolation", "-1"),
        ('{"not": "an array"}', "FormationViolation", "-1"),
        ('[7,"m1","Heartbeat",{}]', "FormationViolation", "m1"),
        ('[2,"m1","Heartbeat"]', "ProtocolError", "m1"),
        ('[2,"m1","Heartbeat",[]]', "FormationViolation", "m1"),
        ('[2,"m1","FlyToTheMoon",{}]', "NotImplemented", "m1"),
        ('[2,"m1","RemoteStartTransaction",{"idTag":"x"}]', "NotSupported", "m1"),
        (
            '[2,"m1","BootNotification",{"chargePointVendor":1,"chargePointModel":"m"}]',
            "TypeConstraintViolation",
            "m1",
        ),
        (
            '[2,"m1","BootNotification",{"chargePointVendor":"'
            + "v" * 30
            + '","chargePointModel":"m"}]',
            "PropertyConstraintViolation",
            "m1",
        ),
        (
            '[2,"m1","BootNotification",{"chargePointModel":"m"}]',
            "OccurenceConstraintViolation",
            "m1",
        ),
        ('[2,"m1","Heartbeat",{"extra":1}]', "FormationViolation", "m1"),
        ('[2,"m1","MeterValues",{"meterValue":[]}]', "OccurenceConstraintViolation", "m1"),
        (
            '[2,"m1","MeterValues",{"connectorId":1,"meterValue":"x"}]',
            "TypeConstraintViolation",
            "m1",
        ),
        (
            '[2,"m1","MeterValues",{"connectorId":"one","meterValue":[]}]',
            "TypeConstraintViolation",
            "m1",
        ),
        (
            '[2,"m1","StartTransaction",{"connectorId":1,"meterStart":0,"timestamp":"2025-01-01T00:00:00Z"}]',
            "OccurenceConstraintViolation",
            "m1",
        ),
        (
            '[2,"m1","StopTransaction",{"transactionId":1,"timestamp":"2025-01-01T00:00:00Z"}]',
            "OccurenceConstraintViolation",
            "m1",
        ),
        (
            '[2,"m1","StatusNotification",{"connectorId":1,"errorCode":"NoError"}]',
            "OccurenceConstraintViolation",
            "m1",
        ),
    ],
)
async def test_each_malformed_frame_gets_its_code(
    site: Site, frame: str, code: str, unique_id: str
) -> None:
    async with site.raw() as raw:
        await raw.send_text(frame)
        reply = await raw.receive()
        assert reply[:3] == [4, unique_id, code], reply
        assert isinstance(reply[3], str) and reply[4] == {}
        await still_up(raw)
    (anomaly,) = await site.central.chargers.anomalies("cp-001")
    assert anomaly.kind == "refused" and anomaly.code == code and anomaly.raw == frame


async def test_oversize_frames_are_refused_and_recorded(tmp_path: Path) -> None:
    async with running_central(tmp_path, max_frame_chars=2000) as site, site.raw() as raw:
        big = json.dumps([2, "big-1", "MeterValues", {"connectorId": 1, "pad": "x" * 5000}])
        await raw.send_text(big)
        reply = await raw.receive()
        assert reply[:3] == [4, "big-1", "FormationViolation"] and "limit" in reply[3]
        await still_up(raw)
        (anomaly,) = await site.central.chargers.anomalies("cp-001")
        assert anomaly.raw_length == len(big) and anomaly.raw == big


async def test_beyond_the_hard_limit_the_socket_is_closed(site: Site) -> None:
    async with site.raw(max_size=None) as raw:
        await raw.send_text("x" * (1024 * 1024 + 1))
        await raw.ws.wait_closed()
        assert raw.ws.close_code == 1009  # message too big


async def test_binary_frames_are_refused_and_the_connection_stays(site: Site) -> None:
    async with site.raw() as raw:
        await raw.ws.send(b'[2,"b1","Heartbeat",{}]')
        reply = await raw.receive()
        assert reply[:3] == [4, "b1", "FormationViolation"] and "text frames" in reply[3]
        await raw.ws.send(b"\xff\xfe")
        assert (await raw.receive())[:3] == [4, "-1", "FormationViolation"]
        await still_up(raw)


async def test_unknown_answers_are_ignored(site: Site) -> None:
    async with site.raw() as raw:
        await raw.send_text('[3,"nobody-asked",{}]')
        await raw.send_text('[4,"nobody-asked","GenericError","x",{}]')
        await raw.send_text('[3,"broken"]')
        await still_up(raw)


async def test_a_flood_of_calls_is_bounded(site: Site) -> None:
    async def slow_status(*args: Any) -> None:
        await asyncio.sleep(0.05)

    site.events.connector_status = slow_status  # type: ignore[method-assign]
    async with site.raw() as raw:
        count = MAX_QUEUED_CALLS * 3
        status = {"connectorId": 1, "status": "Available", "errorCode": "NoError"}
        for n in range(count):
            await raw.send_text(json.dumps([2, f"f{n}", "StatusNotification", status]))
        replies = [await raw.receive() for _ in range(count)]
        refused = [r for r in replies if r[0] == 4]
        assert refused and all(r[2] == "GenericError" for r in refused)
        assert len(replies) - len(refused) >= MAX_QUEUED_CALLS
        await still_up(raw)


@pytest.mark.parametrize(
    ("frame", "unique_id", "code"),
    [
        # Issue 13: a lone surrogate made the reply unencodable and dropped the connection.
        ('[2,"\\ud800","Heartbeat",{}]', "\ud800", None),
        ('[2,"s1","Authorize",{"idTag":"\\udfff"}]', "s1", "PropertyConstraintViolation"),
        ('[2,"s2","\\ud800Boot",{}]', "s2", "NotImplemented"),
        (
            '[2,"s3","StartTransaction",{"connectorId":1,"idTag":"T","meterStart":'
            '18446744073709551617,"timestamp":"2025-01-01T00:00:00Z"}]',
            "s3",
            "PropertyConstraintViolation",
        ),
        (
            '[2,"s4","StartTransaction",{"connectorId":1,"idTag":"T","meterStart":1e300,'
            '"timestamp":"2025-01-01T00:00:00Z"}]',
            "s4",
            "PropertyConstraintViolation",
        ),
        ('[2,"s5","Heartbeat",{"x":1e400}]', "s5", "PropertyConstraintViolation"),
        ('[2,"s6","Heartbeat",{"x":NaN}]', "s6", "FormationViolation"),
    ],
)
async def test_values_out_of_range_get_a_constraint_error_and_the_connection_stays(
    site: Site, frame: str, unique_id: str, code: str | None
) -> None:
    async with site.raw() as raw:
        await raw.send_text(frame)
        reply = await raw.receive()
        assert reply[1] == unique_id
        if code is None:
            assert reply[0] == 3, reply
        else:
            assert reply[:3] == [4, unique_id, code], reply
        await still_up(raw)
    assert await site.db.fetchall("SELECT * FROM transactions") == []


async def test_a_call_cut_off_by_a_close_leaves_no_unretrieved_exception() -> None:
    """The socket closes between our send() and the wait for the answer (issue 13:
    "Future exception was never retrieved ... ChargerOffline" in the logs)."""
    loop = asyncio.get_running_loop()
    errors: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _, context: errors.append(context))

    class ClosingSocket:
        async def send(self, text: str) -> None:
            connection._fail_pending()  # what run() does when the reader sees the close
            raise ConnectionClosed(None, None)

    connection = ChargerConnection(
        "cp-001",
        ClosingSocket(),  # type: ignore[arg-type]
        answer=None,  # type: ignore[arg-type]
        refused=None,  # type: ignore[arg-type]
        max_frame_chars=1000,
        log=logging.LoggerAdapter(logging.getLogger("test")),
    )
    with pytest.raises(ChargerOffline):
        await connection.call("Reset", {"type": "Soft"})
    gc.collect()
    await asyncio.sleep(0)
    assert errors == []
