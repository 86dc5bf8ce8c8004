from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.nostr.relay import LocalRelay, local_relay


@pytest.fixture
async def relay() -> AsyncIterator[LocalRelay]:
    async with local_relay() as running:
        yield running


@pytest.fixture
async def relay2() -> AsyncIterator[LocalRelay]:
    async with local_relay() as running:
        yield running
