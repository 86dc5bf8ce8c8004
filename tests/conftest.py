"""Fixtures shared by every test folder."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from bot.nostr.relay import LocalRelay
from bot.store import Database


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    """A freshly migrated store in a temporary SQLite file (WAL), closed afterwards."""
    database = await Database.open(tmp_path / "z.sqlite3")
    try:
        yield database
    finally:
        await database.close()


@asynccontextmanager
async def _running_relay() -> AsyncIterator[LocalRelay]:
    running = LocalRelay()
    await running.start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
async def relay() -> AsyncIterator[LocalRelay]:
    """A nostr-sdk LocalRelay on 127.0.0.1, stopped afterwards."""
    async with _running_relay() as running:
        yield running


@pytest.fixture
async def relay2() -> AsyncIterator[LocalRelay]:
    """A second, independent relay (two-relay tests)."""
    async with _running_relay() as running:
        yield running
