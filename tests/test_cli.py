from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from bot.cli import main
from bot.lnurl.codec import decode_lnurl
from tests.helpers import write_config


def test_identity_new_writes_toml_and_private_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, chargers=())
    code = main(
        [
            "--config",
            str(config),
            "identity",
            "new",
            "cp-007",
            "--name",
            "Pier 7",
            "--lat",
            "53.54",
            "--lon",
            "9.98",
            "--address",
            'Pier "7", Hamburg',
        ]
    )
    assert code == 0
    key = tmp_path / "identities" / "cp-007.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert key.read_text() not in capsys.readouterr().out
    assert main(["--config", str(config), "check-config"]) == 0
    out = capsys.readouterr().out
    assert "cp-007" in out and "Pier 7" in out and "configuration OK: 1 charger(s)" in out


def test_identity_new_encrypted_needs_passphrase(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_config(tmp_path, chargers=())
    monkeypatch.delenv("ZAPCHARGE_KEY_PASSPHRASE", raising=False)
    args = [
        "--config",
        str(config),
        "identity",
        "new",
        "cp-008",
        "--name",
        "x",
        "--lat",
        "1",
        "--lon",
        "2",
        "--encrypt",
    ]
    assert main(args) == 2
    monkeypatch.setenv("ZAPCHARGE_KEY_PASSPHRASE", "hunter2hunter2")
    assert main(args) == 0
    assert (tmp_path / "identities" / "cp-008.key").read_text().startswith("ncryptsec1")
    assert main(["--config", str(config), "check-config"]) == 0
    monkeypatch.delenv("ZAPCHARGE_KEY_PASSPHRASE")
    assert main(["--config", str(config), "check-config"]) == 2


def test_identity_new_refuses_to_overwrite(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    assert (
        main(
            [
                "--config",
                str(config),
                "identity",
                "new",
                "cp-001",
                "--name",
                "x",
                "--lat",
                "1",
                "--lon",
                "2",
            ]
        )
        == 2
    )


def test_identity_list_and_show_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, chargers=("cp-001", "cp-002"))
    assert main(["--config", str(config), "identity", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [c["id"] for c in listed] == ["cp-001", "cp-002"]
    assert listed[0]["lightning_address"] == "cp-001@charge.example.org"
    assert listed[0]["nip05"] == "cp-001@charge.example.org"
    assert listed[0]["npub"].startswith("npub1")
    qr = tmp_path / "cp-002.svg"
    assert (
        main(["--config", str(config), "identity", "show", "cp-002", "--json", "--qr", str(qr)])
        == 0
    )
    shown = json.loads(capsys.readouterr().out)
    assert shown["id"] == "cp-002"
    assert shown["lnurl"].startswith("LNURL1")
    assert decode_lnurl(shown["lnurl"]) == shown["lnurlp_url"]
    assert qr.read_text().lstrip().startswith("<?xml")


def test_identity_show_prints_a_terminal_qr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path)
    assert main(["--config", str(config), "identity", "show", "cp-001"]) == 0
    out = capsys.readouterr().out
    assert "cp-001@charge.example.org" in out
    assert "█" in out and "▀" in out
    assert main(["--config", str(config), "identity", "show", "nope"]) == 2


def test_check_config_json_and_exit_2_on_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path)
    assert main(["--config", str(config), "check-config", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["chargers"][0]["id"] == "cp-001"
    assert summary["chargers"][0]["reservation"] is None
    assert summary["drivers"] == {
        "notify_max_hours": 6.0,
        "notify_max_per_driver": 5,
        "notify_next_after_s": 60.0,
    }
    (tmp_path / "identities" / "cp-001.key").chmod(0o644)
    assert main(["--config", str(config), "check-config"]) == 2
    err = capsys.readouterr().err
    assert "cp-001.key" in err and "key_file" in err


def test_missing_config_file_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(tmp_path / "nope.toml"), "check-config"]) == 2
    assert "nope.toml" in capsys.readouterr().err
