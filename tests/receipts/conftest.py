from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.backoff import Backoff
from bot.lightning.cln import ClnBackend
from bot.lightning.simnode import SimnodeClient, SimnodeServer, serve_in_process
from bot.store import Database


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[SimnodeServer]:
    """The operator's own node: its zapper issues invoices here, and we look them up."""
    async with serve_in_process(tmp_path / "ln") as server:
        yield server


@pytest.fixture
def backend(node: SimnodeServer) -> ClnBackend:
    fast = Backoff(first_s=0.01, cap_s=0.05, give_up_after_s=0.3)
    return ClnBackend(node.rpc_path, wait_timeout_s=1, backoff=fast)


@pytest.fixture
def wallet(tmp_path: Path, node: SimnodeServer) -> SimnodeClient:
    """The driver's wallet paying the operator's node."""
    return SimnodeClient(tmp_path / "ln")


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "data" / "z.sqlite3")
    try:
        yield database
    finally:
        await database.close()
