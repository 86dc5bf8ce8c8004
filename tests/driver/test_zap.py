"""The driver's zap, in process, against a real pay site, LocalRelay and simulated node."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bot.driver.zap import ZapOutcome, zap
from bot.errors import LnurlError
from bot.lnurl.client import LnurlClient
from bot.nostr.zap_relays import PoolZapRelays
from bot.sessions.records import SessionRecords
from tests.driver.support import ZapWorld, zap_world
from tests.helpers import scaled
from tests.nostr.events import TestKey
from tests.nostr.support import pool_zap_relays

DRIVER = TestKey("05" * 32)
AMOUNT = 5_000_000


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[ZapWorld]:
    async with zap_world(tmp_path) as running:
        yield running


@pytest.fixture
async def relays(world: ZapWorld) -> AsyncIterator[PoolZapRelays]:
    async with pool_zap_relays(world.relay) as running:
        yield running


async def zap_to(
    world: ZapWorld, relays: PoolZapRelays, target: str, amount: int = AMOUNT, **kwargs: object
) -> ZapOutcome:
    async with aiohttp.ClientSession() as http:
        client = LnurlClient(http, allow_loopback=True, allow_private=True)
        options: dict[str, object] = {"pay": world.site.wallet.pay_invoice, "wait_s": scaled(10)}
        return await zap(
            target,
            amount,
            driver_keys=DRIVER.keys,
            relays=relays,
            receipt_relays=[world.relay],
            client=client,
            currency="bcrt",
            now=int(time.time()),
            **(options | kwargs),  # type: ignore[arg-type]
        )


async def test_zapping_an_npub_ends_with_a_valid_receipt(
    world: ZapWorld, relays: PoolZapRelays
) -> None:
    await world.publish_profile(world.address)
    outcome = await zap_to(world, relays, world.charger_npub, comment="first zap")
    charger = world.site.config.chargers[0]
    assert outcome.recipient_pubkey == charger.keys.public_key_hex
    assert outcome.paid and outcome.receipt_id is not None
    assert outcome.receipt_preimage is not None
    session = await SessionRecords(world.site.db).by_payment_hash(outcome.payment_hash)
    assert session is not None and session.payer_pubkey == DRIVER.pubkey
    assert world.site.sessions.paid[0][:2] == (outcome.payment_hash, AMOUNT)


async def test_zapping_a_lightning_address_without_paying(
    world: ZapWorld, relays: PoolZapRelays
) -> None:
    outcome = await zap_to(world, relays, world.address, pay=None, wait_s=0)
    assert not outcome.paid and outcome.receipt_id is None
    assert outcome.recipient_pubkey == world.site.config.chargers[0].keys.public_key_hex
    assert world.site.sessions.paid == []


async def test_an_unpaid_zap_gets_no_receipt(world: ZapWorld, relays: PoolZapRelays) -> None:
    with pytest.raises(LnurlError, match="no valid zap receipt"):
        await zap_to(world, relays, world.address, pay=None, wait_s=0.5)


@pytest.mark.parametrize(
    ("target", "amount", "reason"),
    [
        ("npub1garbage", AMOUNT, "not an npub or a lightning address"),
        ("cp-404@{domain}", AMOUNT, "unknown payment name"),
        ("cp-001@{domain}", 999_000, "outside what the recipient accepts"),
    ],
)
async def test_what_cannot_be_zapped_is_refused(
    world: ZapWorld, relays: PoolZapRelays, target: str, amount: int, reason: str
) -> None:
    with pytest.raises(LnurlError, match=reason):
        await zap_to(world, relays, target.format(domain=world.site.domain), amount)


async def test_an_npub_without_a_lightning_address(world: ZapWorld, relays: PoolZapRelays) -> None:
    await world.publish_profile(None)
    with pytest.raises(LnurlError, match="no lightning address"):
        await zap_to(world, relays, world.charger_npub)
