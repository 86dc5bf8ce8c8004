"""The payment watcher's tests run on both kinds of backend, on the simulated node of
tests/lightning: Core Lightning's JSON-RPC (schemas and all) and Nostr Wallet Connect (the
node's wallet service on a LocalRelay). ``wallet`` pays as a driver would, either way."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.lightning.cln import ClnBackend
from bot.lightning.simnode import SimnodeClient, serve_in_process
from bot.nostr.relay import local_relay
from bot.ports.lightning import LightningBackend
from bot.store import Database
from tests.lightning.conftest import FAST_BACKOFF, ln_dir, wire_log
from tests.lightning.nwc.backing import nwc_backend

__all__ = ["backend", "ln_dir", "ln_kind", "wallet", "wire_log"]


@pytest.fixture(params=["cln", "nwc"])
def ln_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def backend(
    ln_kind: str, ln_dir: Path, wire_log: Path, tmp_path: Path
) -> AsyncIterator[LightningBackend]:
    async with serve_in_process(ln_dir, wire_log=wire_log) as node:
        if ln_kind == "cln":
            yield ClnBackend(node.rpc_path, wait_timeout_s=1, backoff=FAST_BACKOFF)
            return
        # The NWC backend's rows in a database of their own here: the tests open and close
        # the bot's store around it, as a restart does.
        async with (
            local_relay() as url,
            await Database.open(tmp_path / "nwc.sqlite3") as db,
            nwc_backend(node, url, db) as (nwc, _),
        ):
            yield nwc


@pytest.fixture
def wallet(ln_dir: Path, backend: LightningBackend) -> SimnodeClient:
    """The payer's side of the simulated node (after ``backend``: the node runs)."""
    return SimnodeClient(ln_dir)
