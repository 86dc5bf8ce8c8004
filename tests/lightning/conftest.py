"""Fixtures: a simulated node on the test's event loop, and the real backend talking to it.

Every exchange the node sees during a test is validated against Core Lightning's schemas
when the test ends (requests as pyln-client sent them, results as the node returned them).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.backoff import Backoff
from bot.lightning.cln import ClnBackend
from bot.lightning.simnode import SimnodeClient, SimnodeServer, serve_in_process
from tests.lightning.cln_schema import check_wire_log

FAST_BACKOFF = Backoff(first_s=0.01, cap_s=0.05, give_up_after_s=0.3)


@pytest.fixture
def ln_dir(tmp_path: Path) -> Path:
    return tmp_path / "ln"


@pytest.fixture
def wire_log(tmp_path: Path) -> Iterator[Path]:
    """Where the node logs each exchange; all of it is checked against the schemas after."""
    path = tmp_path / "wire.jsonl"
    yield path
    check_wire_log(path)


@pytest.fixture
async def node(ln_dir: Path, wire_log: Path) -> AsyncIterator[SimnodeServer]:
    async with serve_in_process(ln_dir, wire_log=wire_log) as server:
        yield server


@pytest.fixture
def backend(node: SimnodeServer) -> ClnBackend:
    return ClnBackend(node.rpc_path, wait_timeout_s=1, backoff=FAST_BACKOFF)


@pytest.fixture
def wallet(ln_dir: Path) -> SimnodeClient:
    """The payer's side of the simulated node."""
    return SimnodeClient(ln_dir)
