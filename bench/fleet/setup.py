"""A zapcharge installation for the fleet bench: N identities, a config, its processes.

Identities are written directly (the same files ``zapcharge identity new`` writes, keys in
``nsec1`` with mode 0600), because creating 10,000 through the CLI would be the bench's
slowest part. Charger ``cp-<n>`` has the password ``password-<n>``.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import nostr_sdk

__all__ = [
    "Process",
    "raise_file_limit",
    "write_identities",
    "write_installation",
]

_IDENTITY = """id = "cp-{n}"
name = "Fleet charger {n}"
about = "bench charger"
picture = ""
lat = {lat}
lon = {lon}
address = "Bench street {n}"
ocpp_password = "password-{n}"

[[connector]]
id = 1
type = "Type2"
max_power_w = 22000

[tariff]
kind = "static"
price_msat_per_kwh = 250000
session_fee_msat = 0
min_sendable_msat = 1000000
max_sendable_msat = 200000000
"""


def raise_file_limit() -> int:
    """10,000 connections need 10,000 descriptors on each side; children inherit this."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def write_identities(directory: Path, count: int) -> dict[str, int]:
    """cp-0..cp-<count-1> (kept when already there); returns pubkey hex -> charger number."""
    directory.mkdir(parents=True, exist_ok=True)
    pubkeys: dict[str, int] = {}
    for n in range(count):
        key_path = directory / f"cp-{n}.key"
        if key_path.exists():
            secret = nostr_sdk.SecretKey.parse(key_path.read_text().strip())
            keys = nostr_sdk.Keys(secret)
        else:
            keys = nostr_sdk.Keys.generate()
            fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(keys.secret_key().to_bech32() + "\n")
            toml = _IDENTITY.format(n=n, lat=48 + (n % 100) / 1000, lon=11 + (n // 100) / 1000)
            (directory / f"cp-{n}.toml").write_text(toml)
        pubkeys[keys.public_key().to_hex()] = n
    for stale in range(count, count + 100_000):  # a smaller run after a bigger one
        if not (directory / f"cp-{stale}.toml").exists():
            break
        (directory / f"cp-{stale}.toml").unlink()
        (directory / f"cp-{stale}.key").unlink()
    return pubkeys


def write_installation(root: Path, relay_url: str, ocpp_port: int, http_port: int) -> Path:
    config = root / "relays.toml"
    config.write_text(
        f'[[relay]]\nurl = "{relay_url}"\n\n[service]\n'
        f'public_url = "http://127.0.0.1:{http_port}"\n'
        'data_dir = "data"\nidentities_dir = "identities"\n\n'
        f'[ocpp]\nlisten = "127.0.0.1:{ocpp_port}"\n\n[http]\nlisten = "127.0.0.1:{http_port}"\n\n'
        '[lightning]\nbackend = "simnode"\nlightning_dir = "lightning"\nnetwork = "regtest"\n'
    )
    return config


class Process:
    """A child process with its CPU and memory figures read from /proc."""

    def __init__(self, argv: list[str], log: Path, *, stdin: bool = False) -> None:
        self.started = time.monotonic()
        self._log = log.open("ab")
        # The bench owns the child and reaps it in stop(); nothing waits on it blocking.
        self.proc = subprocess.Popen(  # noqa: S603 -- our own modules, fixed arguments
            argv,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._log,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def rss_kb(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def cpu_s(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    async def readline(self, limit_s: float) -> str:
        assert self.proc.stdout is not None
        stdout = self.proc.stdout
        line = await asyncio.wait_for(asyncio.to_thread(stdout.readline), limit_s)
        if not line:
            raise RuntimeError(f"{self.proc.args!r} exited ({self.proc.poll()})")
        return line.decode()

    async def ask(self, command: dict[str, object], limit_s: float) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(command) + "\n").encode())
        self.proc.stdin.flush()
        answer: dict[str, Any] = json.loads(await self.readline(limit_s))
        return answer

    async def quiet(self, *, below: float = 0.05, within: float = 60.0) -> float:
        """Wait until the process uses less than ``below`` of a core; return the wait."""
        started = time.monotonic()
        last = self.cpu_s()
        while time.monotonic() - started < within:
            await asyncio.sleep(1.0)
            now = self.cpu_s()
            if now - last < below:
                break
            last = now
        return time.monotonic() - started

    async def stop(self, limit_s: float = 30.0) -> int | None:
        if self.proc.poll() is None:
            if self.proc.stdin is not None:
                self.proc.stdin.close()
            else:
                self.proc.terminate()
            try:
                await asyncio.to_thread(self.proc.wait, limit_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                await asyncio.to_thread(self.proc.wait, 10)
        self._log.close()
        return self.proc.returncode


def python(*args: str) -> list[str]:
    return [sys.executable, *args]
