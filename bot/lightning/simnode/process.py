"""Running the simulated node: as this process (``zapcharge simnode``) or as a child process
that tests and ``zapcharge demo`` start and stop (:func:`start_subprocess`)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from types import TracebackType

from bot.errors import LightningUnavailable
from bot.lightning.simnode.server import RPC_FILE, serve_in_process, short_socket_path

__all__ = ["SimnodeProcess", "run_node", "running_subprocess", "start_subprocess"]


async def run_node(lightning_dir: Path, network: str, wire_log: Path | None = None) -> None:
    """Serve until SIGINT or SIGTERM (the ``zapcharge simnode`` command)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with serve_in_process(lightning_dir, network, wire_log=wire_log) as server:
        print(
            "zapcharge simnode: this is a SIMULATED Lightning node for tests and demos, "
            "not lightningd; it moves no real money.\n"
            f"node id {server.node.node_id} ({network}), JSON-RPC on {server.rpc_path}",
            flush=True,
        )
        await stop.wait()
    print("zapcharge simnode: stopped", flush=True)


class SimnodeProcess:
    """A ``zapcharge simnode`` child process; ``stop()`` ends it (also on ``with`` exit)."""

    def __init__(self, process: subprocess.Popen[bytes], lightning_dir: Path, network: str):
        self.process, self.lightning_dir, self.network = process, lightning_dir, network
        self.rpc_path = lightning_dir / network / RPC_FILE
        self.log_path = lightning_dir / "simnode.log"

    def stop(self, timeout: float = 10.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def __enter__(self) -> SimnodeProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_subprocess(
    lightning_dir: Path,
    network: str = "regtest",
    *,
    wire_log: Path | None = None,
    startup_timeout: float = 15.0,
) -> SimnodeProcess:
    """Start ``zapcharge simnode`` and return once its socket answers. Blocks briefly."""
    lightning_dir.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "bot", "simnode", "--lightning-dir", str(lightning_dir)]
    command += ["--network", network]
    if wire_log is not None:
        command += ["--wire-log", str(wire_log)]
    with (lightning_dir / "simnode.log").open("ab") as log_file:
        process = subprocess.Popen(  # noqa: S603 -- our own CLI, arguments are paths
            command, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    handle = SimnodeProcess(process, lightning_dir, network)
    deadline = time.monotonic() + startup_timeout
    while not _answers(handle.rpc_path):
        if process.poll() is not None or time.monotonic() > deadline:
            handle.stop()
            log = handle.log_path.read_text(errors="replace")[-2000:]
            raise LightningUnavailable(f"simnode did not start (exit {process.returncode}): {log}")
        time.sleep(0.05)
    return handle


def _answers(rpc_path: Path) -> bool:
    if not rpc_path.exists():
        return False
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        with short_socket_path(rpc_path) as path:
            probe.connect(path)
    except OSError:
        return False
    finally:
        probe.close()
    return True


@contextlib.asynccontextmanager
async def running_subprocess(
    lightning_dir: Path, network: str = "regtest", *, wire_log: Path | None = None
) -> AsyncIterator[SimnodeProcess]:
    """``async with``: a simulated node in its own process for the duration of the block."""
    handle = await asyncio.to_thread(start_subprocess, lightning_dir, network, wire_log=wire_log)
    try:
        yield handle
    finally:
        await asyncio.to_thread(handle.stop)
