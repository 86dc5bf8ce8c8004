from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import pytest

from bot.cli import main
from bot.sessions.machine import State
from tests.sessions.support import rig


async def test_audit_of_a_finished_session_and_of_a_tampered_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with rig(tmp_path) as r:
        await r.charger()
        session = await r.paid_session(200_000)
        await r.reaches(session.id, State.REFUNDING, State.CLOSED, within=20)
    config = str(tmp_path / "relays.toml")
    assert await asyncio.to_thread(main, ["--config", config, "audit", session.id, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["chain_ok"] and report["readings"] >= 3
    assert report["paid_msat"] == 200_000
    assert await asyncio.to_thread(main, ["--config", config, "audit", session.id]) == 0
    assert "chain_ok: True" in capsys.readouterr().out

    with sqlite3.connect(tmp_path / "data" / "zapcharge.sqlite3") as raw:
        raw.execute(
            "UPDATE meter_log SET energy_wh = energy_wh - 1"
            " WHERE id = (SELECT MAX(id) - 1 FROM meter_log WHERE chain LIKE 'tx:%')"
        )
    assert await asyncio.to_thread(main, ["--config", config, "audit", session.id, "--json"]) == 1
    broken = json.loads(capsys.readouterr().out)
    assert not broken["chain_ok"] and broken["problems"]
    assert await asyncio.to_thread(main, ["--config", config, "audit", "no-such-session"]) == 1
