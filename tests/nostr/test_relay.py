from __future__ import annotations

import asyncio

import nostr_sdk

from bot.config import RelayConfig
from bot.nostr.pool import RelayPool
from bot.nostr.relay import LocalRelay, local_relay
from tests.helpers import scaled


async def test_local_relay_listens_on_loopback_and_takes_a_burst() -> None:
    keys = nostr_sdk.Keys.generate()
    async with local_relay() as url:
        assert url.startswith("ws://127.0.0.1:") and int(url.rsplit(":", 1)[1]) > 0
        pool = RelayPool([RelayConfig(url)])
        try:
            events = [
                nostr_sdk.EventBuilder(nostr_sdk.Kind(1), str(i)).finalize(keys) for i in range(300)
            ]
            answers = await asyncio.wait_for(
                asyncio.gather(*(pool.send(e, [url]) for e in events)), scaled(20)
            )
            bad = [a[url] for a in answers if not a[url].ok]
            assert not bad, bad[:3]
        finally:
            await pool.close()


async def test_a_stopped_relay_comes_back_on_the_same_port() -> None:
    relay = LocalRelay()
    await relay.start()
    url = relay.url
    relay.stop()
    assert not relay.running
    await relay.start()
    try:
        assert relay.url == url and relay.running
    finally:
        relay.stop()
