from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
import ssl
import subprocess
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from bot.errors import ChargerOffline, OcppError, is_retryable
from bot.ocpp import commands
from bot.ocpp.server import WAVE_CONNECTS_PER_S
from bot.ocpp.simcharger import SimCharger, SimSettings
from tests.helpers import scaled, write_config
from tests.ocpp.support import RawCharger, Site, basic_auth, running_central, wait_until


async def refused_status(url: str, headers: dict[str, str] | None = None, **kw: Any) -> int:
    with pytest.raises(InvalidStatus) as info:
        async with connect(url, subprotocols=["ocpp1.6"], additional_headers=headers, **kw):  # type: ignore[list-item]
            pass
    return info.value.response.status_code


async def test_handshake_refusals(site: Site) -> None:
    url = site.url + "cp-001"
    assert await refused_status(url) == 401
    assert await refused_status(url, basic_auth("cp-001", "wrong-password")) == 401
    assert await refused_status(url, basic_auth("cp-002", site.password)) == 401
    assert await refused_status(site.url + "cp-404", basic_auth("cp-404", site.password)) == 404
    assert (
        await refused_status(
            f"ws://127.0.0.1:{site.port}/elsewhere", basic_auth("cp-001", site.password)
        )
        == 404
    )
    # A subprotocol we do not speak (neither ocpp1.6 nor ocpp2.0.1) is refused too.
    with pytest.raises(InvalidStatus) as info:
        async with connect(
            url, subprotocols=["ocpp2.1"], additional_headers=basic_auth("cp-001", site.password)
        ):  # type: ignore[list-item]
            pass
    assert info.value.response.status_code == 400
    assert not site.central.is_online("cp-001")
    assert site.events.calls == []


async def test_a_charger_without_subprotocol_is_served_anyway(site: Site) -> None:
    headers = basic_auth("cp-001", site.password)
    async with connect(site.url + "cp-001", additional_headers=headers) as ws:
        reply = await RawCharger(ws).ok("Heartbeat", {})
        assert "currentTime" in reply


async def test_healthz_on_the_same_port(site: Site) -> None:
    url = f"http://127.0.0.1:{site.port}/healthz"
    async with site.raw(), aiohttp.ClientSession() as http, http.get(url) as response:
        assert response.status == 200
        assert await response.json() == {"status": "ok", "chargers_online": 1}


async def test_online_and_offline_are_stored_and_told(site: Site) -> None:
    async with site.raw():
        await wait_until(lambda: site.central.is_online("cp-001"))
        row = await site.central.chargers.get("cp-001")
        assert row is not None and row.online
    await wait_until(lambda: not site.central.is_online("cp-001"))
    await wait_until(lambda: ("cp-001", False) in site.events.named("charger_online"))
    row = await site.central.chargers.get("cp-001")
    assert row is not None and not row.online


async def test_a_new_connection_replaces_the_old(site: Site) -> None:
    async with site.raw() as first:
        await wait_until(lambda: site.central.is_online("cp-001"))
        async with site.raw() as second:
            await asyncio.wait_for(first.ws.wait_closed(), scaled(5))
            assert first.ws.close_code == 1001
            assert await second.ok("Heartbeat", {})
            assert site.central.is_online("cp-001")
            assert site.events.named("charger_online") == [("cp-001", True), ("cp-001", True)]


def _self_signed(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=scaled(30),
    )
    return cert, key


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
async def test_tls_when_a_certificate_is_configured(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    config = write_config(tmp_path)
    text = config.read_text().replace(
        '[ocpp]\nlisten = "127.0.0.1:0"\n',
        f'[ocpp]\nlisten = "127.0.0.1:0"\ntls_cert = "{cert}"\ntls_key = "{key}"\n',
    )
    config.write_text(text)
    async with running_central(tmp_path) as site:
        client = ssl.create_default_context(cafile=str(cert))
        url = f"wss://127.0.0.1:{site.port}/ocpp/cp-001"
        headers = basic_auth("cp-001", site.password)
        for subprotocol in ("ocpp1.6", "ocpp2.0.1"):  # security profile 2 for both
            async with connect(
                url, subprotocols=[subprotocol], additional_headers=headers, ssl=client
            ) as ws:  # type: ignore[list-item]
                assert ws.subprotocol == subprotocol
                assert "currentTime" in await RawCharger(ws).ok("Heartbeat", {})
        assert await refused_status(url, basic_auth("cp-001", "nope-nope"), ssl=client) == 401
        with pytest.raises(Exception):  # noqa: B017 -- plain ws to a TLS port fails one way or another
            async with connect(
                f"ws://127.0.0.1:{site.port}/ocpp/cp-001",
                additional_headers=headers,
                open_timeout=scaled(2),
            ):
                pass


# -- commands, against the simulated charger ------------------------------------------------


async def with_sim(site: Site, **settings: Any) -> tuple[SimCharger, asyncio.Task[None]]:
    sim = SimCharger(SimSettings(site.url, "cp-001", site.password, **settings))
    task = asyncio.create_task(sim.run())
    await sim.wait_for(lambda: sim.boots >= 1, scaled(5))
    await wait_until(lambda: site.central.is_online("cp-001"))
    return sim, task


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_every_command_returns_a_typed_result(site: Site) -> None:
    sim, task = await with_sim(site)
    central = site.central
    try:
        configuration = await central.get_configuration("cp-001")
        assert configuration.get("MeterValueSampleInterval") == "60"
        only = await central.get_configuration("cp-001", ["HeartbeatInterval", "Nope"])
        assert [k.key for k in only.keys] == ["HeartbeatInterval"] and only.unknown == ("Nope",)
        assert await central.change_configuration("cp-001", "NumberOfConnectors", "3") == "Rejected"
        assert await central.change_configuration("cp-001", "Whatever", "3") == "NotSupported"
        assert await central.set_sample_interval("cp-001", 5) is True
        assert sim.sample_interval_s == 5
        assert await central.trigger_message("cp-001", "StatusNotification", 1) == "Accepted"
        assert (
            await central.trigger_message("cp-001", "FirmwareStatusNotification")
            == "NotImplemented"
        )
        assert await central.unlock_connector("cp-001", 1) == "Unlocked"
        assert await central.change_availability("cp-001", 1, operative=False) == "Accepted"
        await wait_until(
            lambda: ("cp-001", 1, "Unavailable", "NoError") in site.events.named("connector_status")
        )
        assert await central.remote_start("cp-001", 1, "TAG-OK") is False  # connector unavailable
        assert await central.change_availability("cp-001", 1, operative=True) == "Accepted"
        profile = commands.power_limit_profile(1, 7000)
        assert await central.set_charging_profile("cp-001", 1, profile) == "Accepted"
        assert sim.connectors[1].limit_w == 7000
        assert await central.remote_start("cp-001", 1, "TAG-OK") is True
        await sim.wait_for(lambda: sim.connectors[1].transaction_id is not None, scaled(5))
        transaction_id = sim.connectors[1].transaction_id
        assert transaction_id is not None
        assert await central.remote_stop("cp-001", transaction_id + 1000) is False
        assert await central.remote_stop("cp-001", transaction_id) is True
        await wait_until(lambda: bool(site.events.named("transaction_stopped")))
        assert await central.reset("cp-001", "Soft") == "Accepted"
        await sim.wait_for(lambda: sim.boots == 2, scaled(5))
        assert [name for name, _ in sim.received][:3] == ["GetConfiguration"] * 2 + [
            "ChangeConfiguration"
        ]
    finally:
        await stop(task)


async def test_a_command_to_an_offline_charger(site: Site) -> None:
    with pytest.raises(ChargerOffline) as info:
        await site.central.remote_start("cp-001", 1, "TAG-OK")
    assert is_retryable(info.value)


async def test_a_callerror_answer_is_an_ocpp_error_with_its_code(site: Site) -> None:
    async with site.raw() as raw:
        command = asyncio.create_task(site.central.reset("cp-001"))
        frame = await raw.receive()
        assert frame[0] == 2 and frame[2] == "Reset" and frame[3] == {"type": "Soft"}
        await raw.send_text(json.dumps([4, frame[1], "NotSupported", "no resets here", {}]))
        with pytest.raises(OcppError) as info:
            await command
        assert info.value.code == "NotSupported" and not is_retryable(info.value)


async def test_an_invalid_answer_is_an_ocpp_error(site: Site) -> None:
    async with site.raw() as raw:
        command = asyncio.create_task(site.central.reset("cp-001"))
        frame = await raw.receive()
        await raw.send_text(json.dumps([3, frame[1], {"status": "Maybe"}]))
        with pytest.raises(OcppError) as info:
            await command
        assert info.value.code == "PropertyConstraintViolation"


async def test_a_malformed_answer_fails_the_command_at_once(site: Site) -> None:
    async with site.raw() as raw:
        command = asyncio.create_task(site.central.reset("cp-001"))
        frame = await raw.receive()
        await raw.send_text(json.dumps([3, frame[1], ["not", "an", "object"]]))
        with pytest.raises(OcppError) as info:
            await asyncio.wait_for(command, scaled(2))
        assert info.value.code == "FormationViolation"


async def test_no_answer_is_a_retryable_timeout(tmp_path: Path) -> None:
    async with running_central(tmp_path, call_timeout=0.3) as site, site.raw() as raw:
        with pytest.raises(OcppError) as info:
            await site.central.unlock_connector("cp-001", 1)
        assert info.value.code is None and is_retryable(info.value)
        # A late answer is ignored and the next command works.
        first = await raw.receive()
        command = asyncio.create_task(site.central.unlock_connector("cp-001", 1))
        second = await raw.receive()
        await raw.send_text(json.dumps([3, first[1], {"status": "Unlocked"}]))
        await raw.send_text(json.dumps([3, second[1], {"status": "UnlockFailed"}]))
        assert await command == "UnlockFailed"


async def test_a_disconnect_during_a_command_is_charger_offline(site: Site) -> None:
    async with site.raw() as raw:
        command = asyncio.create_task(site.central.reset("cp-001"))
        await raw.receive()
        await raw.ws.close()
        with pytest.raises(ChargerOffline):
            await asyncio.wait_for(command, scaled(5))


async def test_a_command_sent_from_inside_an_event_does_not_deadlock(site: Site) -> None:
    # The session layer should not, but if a MeterValues event sends RemoteStop, the
    # connection still reads the answer.
    answers: list[bool] = []

    async def stop_from_event(
        charger_id: str, connector_id: int, transaction_id: int | None, samples: Any
    ) -> None:
        if transaction_id is not None and not answers:
            answers.append(await site.central.remote_stop(charger_id, transaction_id))

    site.events.meter_values = stop_from_event  # type: ignore[method-assign]
    sim, task = await with_sim(site, clock_speed=60, sample_interval_s=60)
    try:
        assert await site.central.remote_start("cp-001", 1, "TAG-OK")
        await wait_until(lambda: answers == [True], within=10)
        await sim.wait_for(lambda: sim.connectors[1].transaction_id is None, scaled(5))
    finally:
        await stop(task)


async def test_no_password_in_the_logs_even_at_debug(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    _, task = await with_sim(site)
    await stop(task)
    assert await refused_status(site.url + "cp-001", basic_auth("cp-001", "wrong-password")) == 401
    token = basic_auth("cp-001", site.password)["Authorization"].split()[1]
    assert "Authorization" in caplog.text  # the header was logged, its value not
    assert site.password not in caplog.text and token not in caplog.text
    assert "wrong-password" not in caplog.text


class _StoppedClock:
    """Time that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


async def test_a_wave_of_connects_is_told_while_it_lasts(tmp_path: Path) -> None:
    clock = _StoppedClock()
    fleet = tuple(f"cp-{n:03d}" for n in range(WAVE_CONNECTS_PER_S))
    async with (
        running_central(tmp_path, chargers=fleet, clock=clock) as site,
        contextlib.AsyncExitStack() as stack,
    ):
        for charger_id in fleet[:-1]:
            await stack.enter_async_context(site.raw(charger_id))
        await wait_until(lambda: len(site.central.online_chargers()) == len(fleet) - 1)
        assert not site.central.connect_wave()  # one short of a wave
        await stack.enter_async_context(site.raw(fleet[-1]))
        await wait_until(lambda: len(site.central.online_chargers()) == len(fleet))
        assert site.central.connect_wave()
        clock.now += 1  # the next second still counts the one before
        assert site.central.connect_wave()
        clock.now += 1
        assert not site.central.connect_wave()  # over: nobody connected since


async def test_routine_lines_of_a_fleet_are_counted_not_logged_one_by_one(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.ocpp")
    fleet = tuple(f"cp-{n:03d}" for n in range(25))
    async with running_central(tmp_path, chargers=fleet) as site:
        async with contextlib.AsyncExitStack() as stack:
            for charger_id in fleet:
                await stack.enter_async_context(site.raw(charger_id))
            await wait_until(lambda: len(site.central.online_chargers()) == len(fleet))
        online = [r for r in caplog.records if r.getMessage().endswith("] online")]
        assert 0 < len(online) <= 20  # at most 20 a window (unless a window ended meanwhile)
        routine = site.central._context.routine
        routine.summary()
    counted = [r.getMessage() for r in caplog.records if "not logged one by one" in r.getMessage()]
    total = len(online) + sum(
        int(m.split(" online")[0].split()[-1]) for m in counted if " online" in m
    )
    assert total == len(fleet)
