"""The payment watcher's tests run on both kinds of backend: the simulated Core Lightning
node of tests/lightning (schemas and all) and Nostr Wallet Connect (a NIP-47 wallet on a
LocalRelay). Each test gets ``backend`` and ``wallet`` (the payer) of one kind."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol

import pytest

from bot.lightning.cln import ClnBackend
from bot.lightning.nwc.backend import NwcBackend
from bot.lightning.nwc.client import NwcClient
from bot.lightning.simnode import SimnodeClient, serve_in_process
from bot.nostr.relay import local_relay
from bot.ports.lightning import LightningBackend
from bot.store import Database
from tests.helpers import scaled
from tests.lightning.conftest import FAST_BACKOFF, ln_dir, wire_log
from tests.lightning.nwc.peer import PeerWallet

__all__ = ["Payer", "backend", "ln_dir", "ln_kind", "wallet", "wire_log"]


class Payer(Protocol):
    async def pay_invoice(self, bolt11: str) -> object: ...


class PeerPayer:
    """Somebody pays an invoice of the NWC wallet."""

    def __init__(self, peer: PeerWallet) -> None:
        self.peer = peer

    async def pay_invoice(self, bolt11: str) -> object:
        await self.peer.receive_payment(bolt11)
        return None


@pytest.fixture(params=["cln", "nwc"])
def ln_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def ln(
    ln_kind: str, ln_dir: Path, wire_log: Path, tmp_path: Path
) -> AsyncIterator[tuple[LightningBackend, Payer]]:
    if ln_kind == "cln":
        async with serve_in_process(ln_dir, wire_log=wire_log) as node:
            yield (
                ClnBackend(node.rpc_path, wait_timeout_s=1, backoff=FAST_BACKOFF),
                SimnodeClient(ln_dir),
            )
        return
    # The NWC backend's own rows live in a database of their own here: the tests open and
    # close the bot's store around it, as a restart does.
    async with local_relay() as url, await Database.open(tmp_path / "nwc.sqlite3") as db:
        peer = PeerWallet(url)
        await peer.start()
        client = NwcClient(peer.uri, info_timeout_s=scaled(2), retry_interval_s=0.3)
        backend = NwcBackend(
            client,
            db,
            network="regtest",
            request_timeout_s=scaled(2),
            poll_without_notifications_s=0.2,
            backoff=FAST_BACKOFF,
        )
        try:
            yield backend, PeerPayer(peer)
        finally:
            await backend.close()
            await peer.stop()


@pytest.fixture
def backend(ln: tuple[LightningBackend, Payer]) -> LightningBackend:
    return ln[0]


@pytest.fixture
def wallet(ln: tuple[LightningBackend, Payer]) -> Payer:
    return ln[1]
