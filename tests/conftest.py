"""Fixtures shared by every test folder."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.store import Database


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    """A freshly migrated store in a temporary SQLite file (WAL), closed afterwards."""
    database = await Database.open(tmp_path / "z.sqlite3")
    try:
        yield database
    finally:
        await database.close()
