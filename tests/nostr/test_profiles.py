from __future__ import annotations

import pytest

from bot.config import RelayConfig
from bot.nostr.pool import RelayPool
from bot.nostr.profiles import fetch_profile, lud16_of, well_formed_lud16
from bot.nostr.relay import LocalRelay
from tests.helpers import scaled
from tests.nostr.support import Driver


@pytest.mark.parametrize(
    ("content", "lud16"),
    [
        ('{"lud16": " Alice@Example.org "}', "alice@example.org"),
        ('{"lud16": "   "}', None),
        ('{"lud16": 7}', None),
        ('["lud16"]', None),
        ("not json", None),
    ],
)
def test_lud16_of_any_profile_content(content: str, lud16: str | None) -> None:
    assert lud16_of(content) == lud16


def test_only_name_at_domain_is_well_formed() -> None:
    assert well_formed_lud16("alice@wallet.example") == "alice@wallet.example"
    assert well_formed_lud16("cp-1@localhost:8080") == "cp-1@localhost:8080"
    assert well_formed_lud16("not an address") is None
    assert well_formed_lud16(None) is None


async def test_the_newest_profile_and_dm_relays(relay: LocalRelay) -> None:
    pool = RelayPool([RelayConfig(relay.url, read=True, write=False)])
    try:
        async with Driver([relay.url]) as someone:
            await someone.publish_signed(0, '{"lud16": "someone@wallet.example"}', [])
            await someone.publish_signed(10050, "", [["relay", "wss://dm.example"]])
            profile = await fetch_profile(pool, someone.pubkey, scaled(3))
    finally:
        await pool.close()
    assert profile.lud16 == "someone@wallet.example"
    assert profile.dm_relays == ("wss://dm.example",)
