from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.ocpp.support import Site, running_central


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    async with running_central(tmp_path, chargers=("cp-001", "cp-002")) as running:
        running.events.tags.add("TAG-OK")
        yield running
