from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import pytest

from bot.cli import main
from bot.sessions.machine import State
from bot.store.lnurl import LnurlStore
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


async def test_audit_lists_unclaimed_payments(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with rig(tmp_path) as r:
        config = str(tmp_path / "relays.toml")
        assert await asyncio.to_thread(main, ["--config", config, "audit", "--unclaimed"]) == 0
        assert "no unclaimed payments" in capsys.readouterr().out
        store = LnurlStore(r.db)
        for n, amount in enumerate((1_500_000, 2_000)):
            await store.record_unclaimed(
                f"{n}" * 64,
                label=f"zapcharge:pay:{n}",
                amount_msat=amount,
                paid_at=1_700_000_000.0 + n,
                reason="no session for this invoice",
                now=1_700_000_100.0 + n,
            )
    args = ["--config", config, "audit", "--unclaimed"]
    assert await asyncio.to_thread(main, [*args, "--json"]) == 1
    listed = json.loads(capsys.readouterr().out)
    assert [p["amount_msat"] for p in listed] == [1_500_000, 2_000]
    assert listed[0]["payment_hash"] == "0" * 64 and listed[0]["reason"].startswith("no session")
    assert await asyncio.to_thread(main, args) == 1
    text = capsys.readouterr().out
    assert "2 unclaimed payment(s), 1,502 sat in all" in text and "1" * 64 in text
    assert await asyncio.to_thread(main, ["--config", config, "audit"]) == 2
