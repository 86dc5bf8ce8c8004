"""The 2.0.1 side of the central system: subprotocol choice and pinning, commands with typed
results, CALLERROR and timeouts as errors, and the simulated 2.0.1 station end to end."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from bot.errors import OcppError
from bot.ocpp import commands as commands16
from bot.ocpp.simcharger import SimSettings
from bot.ocpp.v201.commands import Variable, power_limit_profile
from bot.ocpp.v201.simcharger import SimCharger201
from tests.helpers import scaled
from tests.ocpp.support import Site, basic_auth, running_central, wait_until


@asynccontextmanager
async def station(site: Site, **settings: Any) -> AsyncIterator[SimCharger201]:
    defaults: dict[str, Any] = {
        "clock_speed": 60.0,
        "sample_interval_s": 30,
        "reconnect_delay_s": 0.1,
    }
    sim = SimCharger201(SimSettings(site.url, "cp-001", site.password, **(defaults | settings)))
    task = asyncio.create_task(sim.run())
    try:
        await sim.wait_for(lambda: sim.boots >= 1 and site.central.is_online("cp-001"), scaled(10))
        yield sim
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def _negotiated(site: Site, offered: list[str], charger_id: str = "cp-001") -> str | None:
    headers = basic_auth(charger_id, site.password_of(charger_id))
    async with connect(
        site.url + charger_id, subprotocols=offered, additional_headers=headers
    ) as ws:  # type: ignore[arg-type]
        return ws.subprotocol


async def test_the_offered_subprotocol_decides_in_the_chargers_order(site: Site) -> None:
    assert await _negotiated(site, ["ocpp2.0.1"]) == "ocpp2.0.1"
    assert await _negotiated(site, ["ocpp1.6"]) == "ocpp1.6"
    assert await _negotiated(site, ["ocpp2.0.1", "ocpp1.6"]) == "ocpp2.0.1"
    assert await _negotiated(site, ["ocpp1.6", "ocpp2.0.1"]) == "ocpp1.6"
    with pytest.raises(InvalidStatus) as info:
        await _negotiated(site, ["ocpp2.1", "ocpp1.5"])
    assert info.value.response.status_code == 400
    assert b"speaks ocpp2.0.1 or ocpp1.6, offered: ocpp2.1, ocpp1.5" in info.value.response.body


async def test_an_identity_file_pins_the_protocol(tmp_path: Path) -> None:
    async with running_central(tmp_path, chargers=("cp-001",)) as plain:
        identity = plain.config.chargers[0].key_file.with_suffix(".toml")
    identity.write_text('ocpp_version = "1.6"\n' + identity.read_text())  # a top-level key
    async with running_central(tmp_path) as site:
        assert await _negotiated(site, ["ocpp2.0.1", "ocpp1.6"]) == "ocpp1.6"
        with pytest.raises(InvalidStatus) as info:
            await _negotiated(site, ["ocpp2.0.1"])
        assert b"cp-001 speaks ocpp1.6, offered: ocpp2.0.1" in info.value.response.body


async def test_malformed_frames_get_2_0_1_codes_and_the_connection_stays(site: Site) -> None:
    async with site.raw(subprotocol="ocpp2.0.1") as raw:
        for text, code in (
            ("nonsense", "RpcFrameworkError"),
            ('[5, "m1", "Heartbeat", {}]', "MessageTypeNotSupported"),
            ('[2, "m2", "Heartbeat", "x"]', "FormatViolation"),
            ('[2, "m3", "StartTransaction", {}]', "NotImplemented"),
            ('[2, "m4", "RequestStartTransaction", {}]', "NotSupported"),
            (
                '[2, "m5", "BootNotification", {"reason": "PowerUp"}]',
                "OccurrenceConstraintViolation",
            ),
            ('[2, "m6", "Heartbeat", {"x": 1}]', "FormatViolation"),
            ('[2, "m7", "' + "H" * 70_000 + '", {}]', "FormatViolation"),
        ):
            await raw.send_text(text)
            reply = await raw.receive()
            assert reply[0] == 4 and reply[2] == code, (text[:40], reply)
        answer = await raw.ok("DataTransfer", {"vendorId": "acme"})
        assert answer == {"status": "UnknownVendorId"}
        assert "currentTime" in await raw.ok("Heartbeat", {})


async def test_notifications_are_answered_and_kept(site: Site) -> None:
    async with site.raw(subprotocol="ocpp2.0.1") as raw:
        boot = {"reason": "PowerUp", "chargingStation": {"model": "M1", "vendorName": "Acme"}}
        assert (await raw.ok("BootNotification", boot))["status"] == "Accepted"
        security = {"type": "TamperDetectionActivated", "timestamp": "2026-01-05T10:00:00Z"}
        assert await raw.ok("SecurityEventNotification", security) == {}
        report = {"requestId": 1, "generatedAt": "2026-01-05T10:00:00Z", "seqNo": 0, "tbc": False}
        assert await raw.ok("NotifyReport", report) == {}
        authorize = {"idToken": {"idToken": "TAG-OK", "type": "Central"}}
        assert await raw.ok("Authorize", authorize) == {"idTokenInfo": {"status": "Accepted"}}
        expired = {"reservationId": 7, "reservationUpdateStatus": "Expired"}
        assert await raw.ok("ReservationStatusUpdate", expired) == {}
    kinds = [a.kind for a in await site.central.chargers.anomalies("cp-001")]
    assert kinds == ["security event"]
    charger = await site.central.chargers.get("cp-001")
    assert charger is not None and charger.boot is not None and charger.boot.vendor == "Acme"


async def test_a_remote_session_with_the_simulated_station(site: Site) -> None:
    async with station(site, power_w=7200, sample_interval_s=15) as sim:
        assert site.central.protocol_of("cp-001") == "2.0.1"
        assert await site.central.remote_start("cp-001", 1, "TAG-OK")
        await wait_until(lambda: bool(site.events.named("transaction_started")))
        assert await site.central.set_sample_interval("cp-001", 10)
        assert sim.sample_interval_s == 10
        await wait_until(lambda: len(site.events.named("meter_values")) >= 2)
        ours = site.events.named("transaction_started")[0]["transaction_id"]
        assert await site.central.remote_stop("cp-001", ours)
        await wait_until(lambda: bool(site.events.named("transaction_stopped")))
    [start] = sim.commands("RequestStartTransaction")
    assert start["id_token"] == {"id_token": "TAG-OK", "type": "Central"}
    assert start["evse_id"] == 1 and start["remote_start_id"] >= 1
    energies = [s.energy_wh for e in site.events.named("meter_values") for s in e[3]]
    assert energies == sorted(energies) and len(energies) >= 2
    stopped = site.events.named("transaction_stopped")[0]
    assert stopped["reason"] == "Remote" and stopped["meter_stop_wh"] >= energies[-1]


async def test_commands_have_typed_results(site: Site) -> None:
    async with station(site) as sim:
        central, v201 = site.central, site.central.v201
        interval = Variable("SampledDataCtrlr", "TxUpdatedInterval")
        [got, unknown] = await v201.get_variables(
            "cp-001", [interval, Variable("SampledDataCtrlr", "Nonsense")]
        )
        assert (got.status, got.value) == ("Accepted", "30")
        assert unknown.status == "UnknownVariable" and unknown.value is None
        [set_one] = await v201.set_variables("cp-001", {Variable("Nope", "X"): "1"})
        assert set_one.status == "UnknownComponent"
        assert await v201.trigger_message("cp-001", "StatusNotification", 1) == "Accepted"
        assert await v201.trigger_message("cp-001", "LogStatusNotification") == "NotImplemented"
        assert await central.trigger_message("cp-001", "Heartbeat") == "Accepted"
        assert await v201.unlock_connector("cp-001", 1) == "Unlocked"
        assert await v201.unlock_connector("cp-001", 7) == "UnknownConnector"
        assert await v201.change_availability("cp-001", False, 1) == "Accepted"
        assert not sim.connectors[1].operative
        assert await v201.change_availability("cp-001", True) == "Accepted"
        profile = power_limit_profile(3, 3_700)
        assert await v201.set_charging_profile("cp-001", 1, profile) == "Accepted"
        assert sim.connectors[1].limit_w == 3_700
        # A 1.6 profile from a caller that speaks 1.6 is converted for a 2.0.1 station.
        assert (
            await central.set_charging_profile(
                "cp-001", 1, commands16.power_limit_profile(4, 5_000)
            )
            == "Accepted"
        )
        assert sim.connectors[1].limit_w == 5_000
        with pytest.raises(OcppError, match=r"is OCPP 1\.6; cp-001 speaks 2\.0\.1"):
            await central.get_configuration("cp-001")
        assert await v201.reset("cp-001", "Immediate") == "Accepted"
        await sim.wait_for(lambda: sim.boots >= 2, scaled(10))


async def test_a_callerror_or_no_answer_is_an_error_the_caller_sees(tmp_path: Path) -> None:
    async with running_central(tmp_path, call_timeout=0.5) as site:
        await _refused_and_unanswered(site)


async def _refused_and_unanswered(site: Site) -> None:
    async with site.raw(subprotocol="ocpp2.0.1") as raw:
        await raw.ok("Heartbeat", {})

        async def answer_with_error() -> None:
            frame = json.loads(await raw.ws.recv())
            await raw.send_text(json.dumps([4, frame[1], "NotSupported", "no", {}]))

        task = asyncio.create_task(answer_with_error())
        with pytest.raises(OcppError) as info:
            await site.central.v201.trigger_message("cp-001", "Heartbeat")
        await task
        assert info.value.code == "NotSupported"
        with pytest.raises(OcppError) as silent:
            await site.central.v201.trigger_message("cp-001", "Heartbeat")
        assert silent.value.code is None and "no answer" in str(silent.value)


@pytest.mark.parametrize("subprotocol", ["ocpp1.6", "ocpp2.0.1"])
async def test_a_refusal_is_answered_when_it_cannot_be_kept(site: Site, subprotocol: str) -> None:
    """The anomaly table is gone (a real SQLite failure on the refusal's INSERT): the
    charger still gets its CALLERROR, and the connection stays."""
    await site.db.execute("DROP TABLE ocpp_anomalies")
    async with site.raw(subprotocol=subprotocol) as raw:
        await raw.send_text('[2, "r1", "BootNotification", {"reason": "PowerUp"}]')
        reply = await raw.receive()
        assert reply[0] == 4 and reply[1] == "r1", reply
        assert "currentTime" in await raw.ok("Heartbeat", {})
