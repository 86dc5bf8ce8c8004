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
from typing import TYPE_CHECKING

from bot.errors import LightningUnavailable
from bot.lightning.simnode.server import RPC_FILE, serve_in_process, short_socket_path

if TYPE_CHECKING:  # the wallet service (nostr, websockets) loads only when asked for
    from bot.lightning.nwc.simwallet import SimWallet, WalletOptions

__all__ = ["SimnodeProcess", "run_node", "running_subprocess", "start_subprocess"]


async def run_node(
    lightning_dir: Path,
    network: str,
    wire_log: Path | None = None,
    nwc: WalletOptions | None = None,
) -> None:
    """Serve until SIGINT or SIGTERM (the ``zapcharge simnode`` command); with ``nwc``, the
    simulated NWC wallet service runs beside the JSON-RPC socket, on the same ledger."""
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
        async with asyncio.TaskGroup() as tasks:
            service = None
            if nwc is not None:
                from bot.lightning.nwc.simwallet import build_wallet

                wallet = build_wallet(server.node, nwc)
                service = tasks.create_task(wallet.run())
                tasks.create_task(_say_when_ready(wallet, nwc))
            await stop.wait()
            if service is not None:
                service.cancel()
    print("zapcharge simnode: stopped", flush=True)


async def _say_when_ready(wallet: SimWallet, nwc: WalletOptions) -> None:
    from bot.lightning.nwc.simwallet import READY_LINE

    await wallet.ready.wait()
    print(
        f"{READY_LINE}: a SIMULATED NIP-47 wallet service, wallet {wallet.pubkey} on "
        f"{nwc.relay_url}; connection URI in {nwc.uri_file} (mode 0600)",
        flush=True,
    )


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
    nwc: WalletOptions | None = None,
    startup_timeout: float = 15.0,
) -> SimnodeProcess:
    """Start ``zapcharge simnode`` and return once its socket answers (and, with ``nwc``,
    once its wallet service serves on the relay). Blocks briefly."""
    lightning_dir.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "bot", "simnode", "--lightning-dir", str(lightning_dir)]
    command += ["--network", network]
    if wire_log is not None:
        command += ["--wire-log", str(wire_log)]
    if nwc is not None:
        from bot.lightning.nwc.simwallet import fault_words

        command += ["--nwc", str(nwc.uri_file), "--nwc-relay", nwc.relay_url]
        command += [f"--nwc-fault={word}" for word in fault_words(nwc.faults)]
    log_path = lightning_dir / "simnode.log"
    ready_before = _ready_lines(log_path)
    with log_path.open("ab") as log_file:
        process = subprocess.Popen(  # noqa: S603 -- our own CLI, arguments are paths
            command, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    handle = SimnodeProcess(process, lightning_dir, network)
    deadline = time.monotonic() + startup_timeout
    while not _answers(handle.rpc_path) or (
        nwc is not None and _ready_lines(log_path) == ready_before
    ):
        if process.poll() is not None or time.monotonic() > deadline:
            handle.stop()
            log = handle.log_path.read_text(errors="replace")[-2000:]
            raise LightningUnavailable(f"simnode did not start (exit {process.returncode}): {log}")
        time.sleep(0.05)
    return handle


def _ready_lines(log_path: Path) -> int:
    from bot.lightning.nwc.simwallet import READY_LINE

    if not log_path.exists():
        return 0
    return log_path.read_text(errors="replace").count(READY_LINE)


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
    lightning_dir: Path,
    network: str = "regtest",
    *,
    wire_log: Path | None = None,
    nwc: WalletOptions | None = None,
) -> AsyncIterator[SimnodeProcess]:
    """``async with``: a simulated node in its own process for the duration of the block."""
    handle = await asyncio.to_thread(
        start_subprocess, lightning_dir, network, wire_log=wire_log, nwc=nwc
    )
    try:
        yield handle
    finally:
        await asyncio.to_thread(handle.stop)
