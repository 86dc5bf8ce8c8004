"""The NIP-47 wallet peer on the test's LocalRelay, started and stopped around a test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.nostr.relay import LocalRelay
from tests.lightning.nwc.peer import PeerWallet


@pytest.fixture
async def wallet(relay: LocalRelay) -> AsyncIterator[PeerWallet]:
    peer = PeerWallet(relay.url)
    await peer.start()
    try:
        yield peer
    finally:
        await peer.stop()
