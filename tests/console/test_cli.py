"""`zapcharge sessions` and `zapcharge charger ID ...` against a running console."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from bot.cli import main
from bot.sessions.machine import State
from tests.console.support import ConsoleRig, console_rig


def _with_token(tmp_path: Path) -> Path:
    config = tmp_path / "relays.toml"
    with config.open("a", encoding="utf-8") as handle:
        handle.write('\n[console]\ntoken_file = "console.token"\n')
    return config


async def _run(
    c: ConsoleRig, config: Path, *argv: str, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    code = await asyncio.to_thread(main, ["--config", str(config), *argv, "--url", c.base])
    out, err = capsys.readouterr()
    return code, out, err


async def test_sessions_lists_and_filters(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with console_rig(tmp_path, chargers=("cp-001", "cp-002")) as c:
        config = _with_token(tmp_path)
        await c.rig.charger("cp-001")
        charging = await c.rig.paid_session(2_000_000, charger_id="cp-001")
        await c.rig.reaches(charging.id, State.CHARGING)
        quoted = await c.rig.quoted(charger_id="cp-002")
        code, out, _ = await _run(c, config, "sessions", "--json", capsys=capsys)
        assert code == 0
        assert {s["id"] for s in json.loads(out)} == {charging.id, quoted.id}
        code, out, _ = await _run(
            c, config, "sessions", "--charger", "cp-001", "--since", "1h", "--json", capsys=capsys
        )
        assert [s["id"] for s in json.loads(out)] == [charging.id]
        code, out, _ = await _run(c, config, "sessions", "--state", "charging", capsys=capsys)
        assert code == 0 and charging.id in out and quoted.id not in out
        assert "cp-001#1" in out and "2000" in out  # the table: charger#connector, paid sat
        code, _, err = await _run(c, config, "sessions", "--state", "flying", capsys=capsys)
        assert code == 1 and "console answered 400: state: expected one of" in err


async def test_charger_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    async with console_rig(tmp_path) as c:
        config = _with_token(tmp_path)
        sim = await c.rig.charger()
        code, out, _ = await _run(c, config, "charger", "cp-001", "reset", "--yes", capsys=capsys)
        assert code == 0 and "answered Accepted" in out
        assert sim.commands("Reset") == [{"type": "Soft"}]
        # The charger reboots: wait for its second boot, on its new connection.
        await sim.wait_for(lambda: sim.boots >= 2 and c.rig.central.is_online("cp-001"), 10)
        code, out, _ = await _run(
            c, config, "charger", "cp-001", "unavailable", "--yes", "--json", capsys=capsys
        )
        assert code == 0 and json.loads(out)["answer"] == "Accepted"
        assert sim.commands("ChangeAvailability")[-1] == {"connector_id": 0, "type": "Inoperative"}
        code, out, _ = await _run(
            c, config, "charger", "cp-001", "available", "--yes", capsys=capsys
        )
        assert code == 0
        assert sim.commands("ChangeAvailability")[-1] == {"connector_id": 0, "type": "Operative"}
        code, out, _ = await _run(c, config, "charger", "cp-001", "unlock", "--yes", capsys=capsys)
        assert code == 0 and "Unlocked" in out
        # Scripts must say --yes: with no terminal to ask, nothing is done.
        resets = len(sim.commands("Reset"))
        code, _, err = await _run(c, config, "charger", "cp-001", "reset", capsys=capsys)
        assert code == 2 and "--yes" in err
        assert len(sim.commands("Reset")) == resets
        code, _, err = await _run(c, config, "charger", "cp-404", "reset", "--yes", capsys=capsys)
        assert code == 1 and "404" in err


async def test_offline_charger_and_no_token(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with console_rig(tmp_path) as c:
        plain = tmp_path / "relays.toml"
        code, _, err = await _run(c, plain, "sessions", capsys=capsys)
        assert code == 1 and "set [console] token_file" in err
        config = _with_token(tmp_path)
        code, out, _ = await _run(c, config, "charger", "cp-001", "reset", "--yes", capsys=capsys)
        assert code == 1 and "not connected" in out


def test_an_unreachable_bot_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.helpers import write_config

    config = write_config(tmp_path, extra='\n[console]\ntoken_file = "console.token"\n')
    token = tmp_path / "console.token"
    token.write_text("b" * 64, encoding="utf-8")
    token.chmod(0o600)
    url = "http://127.0.0.1:9"  # discard: nobody listens
    code = main(["--config", str(config), "sessions", "--url", url])
    assert code == 1
    assert "not reachable" in capsys.readouterr().err
