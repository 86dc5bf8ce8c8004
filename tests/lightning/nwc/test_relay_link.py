"""NIP-01 over one websocket, against a real LocalRelay."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from websockets.asyncio.client import connect

from bot.errors import NostrError, is_retryable
from bot.lightning.nwc.relay_link import RelayLink
from bot.nostr.primitives import generate_secret_hex, public_key_hex, sign_event
from bot.nostr.relay import LocalRelay
from tests.helpers import scaled


@asynccontextmanager
async def linked(url: str) -> AsyncIterator[RelayLink]:
    async with connect(url) as connection:
        link = RelayLink(connection, ok_timeout=scaled(5))
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(link.pump())
            try:
                yield link
            finally:
                await link.close()


async def test_publish_query_and_live_events(relay: LocalRelay) -> None:
    secret = generate_secret_hex()
    async with linked(relay.url) as writer, linked(relay.url) as reader:
        stored = sign_event(secret, 13194, "make_invoice", [])
        await writer.publish(stored)
        assert await reader.query([{"kinds": [13194], "authors": [public_key_hex(secret)]}]) == [
            stored
        ]
        sub = await reader.subscribe([{"kinds": [23195], "#p": ["ab" * 32]}])
        live = sign_event(secret, 23195, "x", [["p", "ab" * 32]])
        other = sign_event(secret, 23195, "y", [["p", "cd" * 32]])
        await writer.publish(other)
        await writer.publish(live)
        assert await asyncio.wait_for(reader.next_event(), scaled(5)) == (sub, live)


async def test_a_refused_event_is_an_error(relay: LocalRelay) -> None:
    expired = sign_event(generate_secret_hex(), 1, "old", [["expiration", "1000"]])
    async with linked(relay.url) as link:
        with pytest.raises(NostrError, match="refused"):
            await link.publish(expired)


async def test_a_closed_link_says_so_to_every_reader(relay: LocalRelay) -> None:
    async with linked(relay.url) as link:
        await link.close()
        for _ in range(2):
            with pytest.raises(NostrError) as caught:
                await asyncio.wait_for(link.next_event(), scaled(5))
            assert is_retryable(caught.value)
        with pytest.raises(NostrError):
            await link.send(sign_event(generate_secret_hex(), 1, "x", []))


async def test_a_relay_that_goes_away_wakes_the_publisher(relay: LocalRelay) -> None:
    async with linked(relay.url) as link:
        relay.stop()
        with pytest.raises(NostrError):
            for _ in range(100):  # the close reaches the link within a few frames
                await link.publish(sign_event(generate_secret_hex(), 1, "x", []))
                await asyncio.sleep(0.02)
