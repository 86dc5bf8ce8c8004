from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.cli import build_parser, main


def test_the_lightning_dir_goes_before_or_after_the_action(tmp_path: Path) -> None:
    parser = build_parser()
    for argv in (
        ["simnode", "--lightning-dir", str(tmp_path), "pay", "lnbcrt1x"],
        ["simnode", "pay", "--lightning-dir", str(tmp_path), "lnbcrt1x"],
    ):
        args = parser.parse_args(argv)
        assert (args.lightning_dir, args.simnode_command, args.bolt11) == (
            tmp_path,
            "pay",
            "lnbcrt1x",
        )
    assert parser.parse_args(["simnode", "--lightning-dir", "d"]).simnode_command is None


def test_the_lightning_dir_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simnode", "payments"]) == 2
    assert "--lightning-dir" in capsys.readouterr().err


def test_payments_of_a_node_that_never_ran(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["simnode", "payments", "--lightning-dir", str(tmp_path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert main(["simnode", "payments", "--lightning-dir", str(tmp_path)]) == 0
    assert "payment hash" in capsys.readouterr().out


def test_paying_without_a_running_node_fails_cleanly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["simnode", "pay", "--lightning-dir", str(tmp_path), "lnbcrt1x"]) == 1
    assert "simnode" in capsys.readouterr().err
