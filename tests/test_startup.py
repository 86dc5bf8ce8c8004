"""Start-up failures are one line naming the thing and the fix (issue 13), through the real
``zapcharge`` command in a subprocess: exit status, stderr, no traceback."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main
from bot.config import load_config
from bot.startup import describe, public_url_warnings
from tests.helpers import scaled, write_config


def zapcharge(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=scaled(60),
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)},
        check=False,
    )


def assert_one_clear_line(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == 1, result
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0], lines[0]
    assert "Traceback" not in result.stderr and "ExceptionGroup" not in result.stderr


@pytest.mark.parametrize("table", ["ocpp", "http"])
def test_a_port_in_use_is_one_line_and_exit_1(tmp_path: Path, table: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = write_config(tmp_path)
        text = config.read_text().replace(
            f'[{table}]\nlisten = "127.0.0.1:0"', f'[{table}]\nlisten = "127.0.0.1:{port}"'
        )
        config.write_text(text)
        result = zapcharge("--config", str(config), "run", cwd=tmp_path)
    assert_one_clear_line(result, f"127.0.0.1:{port}", "address already in use", f"[{table}]")


def test_a_missing_lightning_dir_is_caught_by_run_and_check_config(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    config.write_text(config.read_text().replace('backend = "simnode"', 'backend = "cln"'))
    missing = tmp_path / "ln"
    run = zapcharge("--config", str(config), "run", cwd=tmp_path)
    assert_one_clear_line(run, str(missing), "does not exist", "lightning_dir")
    check = zapcharge("--config", str(config), "check-config", cwd=tmp_path)
    assert_one_clear_line(check, str(missing), "lightning_dir")
    (missing / "bitcoin").mkdir(parents=True)  # the directory, but no node running in it
    run = zapcharge("--config", str(config), "run", cwd=tmp_path)
    assert_one_clear_line(run, str(missing / "bitcoin" / "lightning-rpc"), "start lightningd")


def test_identity_show_into_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    command = (
        f"{sys.executable} -m bot --config {config} identity show cp-001 | head -n 1;"
        " exit ${PIPESTATUS[0]}"
    )
    result = subprocess.run(
        ["bash", "-c", command],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=scaled(60),
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)},
        check=False,
    )
    assert result.stdout.count("\n") == 1
    assert "BrokenPipe" not in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 0


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("https://charge.example.org:8443", ["has a port"]),
        ("http://charge.example.org", ["plain http"]),
        ("http://charge.example.org:8080", ["has a port", "plain http"]),
        ("https://charge.example.org", []),
    ],
)
def test_check_config_warns_about_public_urls_clients_refuse(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], url: str, words: list[str]
) -> None:
    config = write_config(tmp_path)
    config.write_text(config.read_text().replace("https://charge.example.org", url))
    found = public_url_warnings(load_config(config, env={}))
    assert len(found) == len(words) and all(w in " ".join(found) for w in words)
    assert main(["--config", str(config), "check-config", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["warnings"] == found


def test_describe_unwraps_the_service_group() -> None:
    group = BaseExceptionGroup(
        "unhandled errors in a TaskGroup",
        [ExceptionGroup("inner", [OSError(98, "bind on ('0.0.0.0', 9000): in use")])],
    )
    # What aiohttp raises when it loses the race for the port after the preflight.
    assert describe(group) == "bind on ('0.0.0.0', 9000): in use"


async def _nwc_config(root: Path, uri: str) -> Path:
    config = root / "relays.toml"
    if not config.exists():
        write_config(root, extra='network = "regtest"\n')
        config.write_text(config.read_text().replace('backend = "simnode"', 'backend = "nwc"'))
    (root / "wallet.nwc").write_text(uri + "\n")
    (root / "wallet.nwc").chmod(0o600)
    return config


async def test_check_config_and_run_say_when_the_nwc_wallet_does_not_answer_or_lacks_a_method(
    tmp_path: Path,
) -> None:
    import asyncio

    from bot.nostr.relay import local_relay
    from tests.lightning.nwc.peer import Faults, PeerWallet

    async with local_relay() as url:
        silent = PeerWallet(url)  # never started: nobody answers for this key
        config = await _nwc_config(tmp_path, _uri(silent))
        run = await asyncio.to_thread(zapcharge, "--config", str(config), "run", cwd=tmp_path)
        assert_one_clear_line(run, "nwc wallet", "does not answer", "kind 13194", url)
        wallet = PeerWallet(url, Faults(methods=("get_info", "make_invoice", "lookup_invoice")))
        await wallet.start()
        try:
            config = await _nwc_config(tmp_path, _uri(wallet))
            check = await asyncio.to_thread(
                zapcharge, "--config", str(config), "check-config", cwd=tmp_path
            )
            assert_one_clear_line(check, "lacks pay_invoice")
            assert wallet.client_secret not in check.stdout + check.stderr
            wallet.faults.methods = (*wallet.faults.methods, "pay_invoice")
            await wallet.publish_info()
            check = await asyncio.to_thread(
                zapcharge, "--config", str(config), "check-config", "--json", cwd=tmp_path
            )
            summary = json.loads(check.stdout)
            assert (check.returncode, summary["errors"]) == (0, [])
            assert wallet.pubkey[:12] in summary["nwc_wallet"]
        finally:
            await wallet.stop()


def test_a_malformed_nwc_uri_is_one_line(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    config.write_text(config.read_text().replace('backend = "simnode"', 'backend = "nwc"'))
    (tmp_path / "wallet.nwc").write_text("nostr+walletconnect://abc?relay=wss://r.example\n")
    (tmp_path / "wallet.nwc").chmod(0o600)
    check = zapcharge("--config", str(config), "check-config", cwd=tmp_path)
    assert check.returncode == 2, check  # a config error, as for every other file
    [line] = check.stderr.splitlines()
    assert "wallet.nwc" in line and "wallet public key" in line


def _uri(wallet: object) -> str:
    from bot.lightning.nwc.protocol import format_uri

    return format_uri(wallet.pubkey, [wallet.relay_url], wallet.client_secret)  # type: ignore[attr-defined]
