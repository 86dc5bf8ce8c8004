"""NwcClient on a real LocalRelay with a NIP-47 wallet peer: answers, losses, relay drops."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bot.errors import LightningUnavailable
from bot.lightning.nwc.client import NoAnswer, NwcClient
from bot.lightning.nwc.protocol import Response
from bot.nostr.relay import LocalRelay
from tests.helpers import scaled
from tests.lightning.nwc.peer import Faults, PeerWallet


@pytest.fixture
async def client(wallet: PeerWallet) -> AsyncIterator[NwcClient]:
    made = NwcClient(wallet.uri, info_timeout_s=scaled(2))
    try:
        yield made
    finally:
        await made.close()


async def test_the_info_event_and_an_answered_call(client: NwcClient) -> None:
    info = await client.start()
    assert {"make_invoice", "lookup_invoice", "pay_invoice"} <= info.methods
    assert "payment_received" in info.notifications
    assert client.encryption.value == "nip44_v2"
    answer = await client.call("get_info", {}, timeout_s=scaled(3))
    assert isinstance(answer, Response) and answer.result is not None
    assert answer.result["alias"] == "peer"


async def test_a_lost_response_is_no_answer_not_a_failure(
    client: NwcClient, wallet: PeerWallet
) -> None:
    wallet.faults.drop_responses = 1
    answer = await client.call("get_info", {}, timeout_s=scaled(0.5))
    assert isinstance(answer, NoAnswer) and answer.delivered
    assert "no response within" in answer.reason
    assert wallet.requests == ["get_info"]  # the wallet got it: unknown, not "never sent"


async def test_an_old_wallet_without_an_encryption_tag_gets_nip04(relay: LocalRelay) -> None:
    wallet = PeerWallet(relay.url, Faults(nip04_only=True))
    await wallet.start()
    client = NwcClient(wallet.uri, info_timeout_s=scaled(2))
    try:
        await client.start()
        assert client.encryption.value == "nip04"
        assert isinstance(await client.call("get_info", {}, timeout_s=scaled(3)), Response)
    finally:
        await client.close()
        await wallet.stop()


async def test_no_info_event_means_the_wallet_does_not_answer(relay: LocalRelay) -> None:
    client = NwcClient(PeerWallet(relay.url).uri, info_timeout_s=scaled(1))
    try:
        with pytest.raises(LightningUnavailable, match="does not answer"):
            await client.start()
    finally:
        await client.close()


async def test_after_the_wallet_relay_drops_the_client_reconnects_and_says_so(
    relay: LocalRelay, client: NwcClient, wallet: PeerWallet
) -> None:
    await client.start()
    client.reconnected.clear()
    relay.stop()
    await asyncio.sleep(scaled(0.5))
    down = await client.call("get_info", {}, timeout_s=scaled(0.5))
    assert isinstance(down, NoAnswer) and not down.delivered  # nothing left us
    await relay.start()
    await asyncio.wait_for(client.reconnected.wait(), scaled(10))
    answer: object = None
    for _ in range(20):  # the wallet's own connection comes back on its own schedule
        answer = await client.call("get_info", {}, timeout_s=scaled(1))
        if isinstance(answer, Response):
            break
    assert isinstance(answer, Response)
