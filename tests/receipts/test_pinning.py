from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from aiohttp import web

from bot.config import ChargerConfig
from bot.config.keys import generate_keys
from bot.config.zapper import ZapperConfig
from bot.errors import ConfigError, LnurlError
from bot.receipts.pinning import address_url, fetch_nostr_pubkey, trusted_zappers
from bot.store import Database
from bot.store.receipts import ReceiptStore
from tests.nostr.support import make_charger

ZAPPER = generate_keys().public_key_hex
OTHER = generate_keys().public_key_hex


@pytest.fixture
async def lnurl_server() -> AsyncIterator[tuple[str, dict[str, object]]]:
    """An operator's LNURL server on 127.0.0.1; the test edits the answer it gives."""
    answer: dict[str, object] = {
        "tag": "payRequest",
        "callback": "http://127.0.0.1/cb",
        "allowsNostr": True,
        "nostrPubkey": ZAPPER,
    }

    async def pay_request(request: web.Request) -> web.Response:
        assert request.match_info["name"] == "cp-001"
        return web.json_response(answer)

    app = web.Application()
    app.router.add_get("/.well-known/lnurlp/{name}", pay_request)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"cp-001@127.0.0.1:{port}", answer
    finally:
        await runner.cleanup()


def charger_with(address: str, *keys: str, pin: bool = True) -> ChargerConfig:
    return make_charger(zapper=ZapperConfig(address, tuple(keys), pin, "cp-001.toml"))


def test_address_urls() -> None:
    assert address_url("cp@pay.example.org") == "https://pay.example.org/.well-known/lnurlp/cp"
    assert address_url("cp@127.0.0.1:8080") == "http://127.0.0.1:8080/.well-known/lnurlp/cp"


async def test_the_announced_key_is_fetched(lnurl_server: tuple[str, dict[str, object]]) -> None:
    address, answer = lnurl_server
    assert await fetch_nostr_pubkey(address) == ZAPPER
    answer["allowsNostr"] = False
    with pytest.raises(LnurlError, match="does not support zaps"):
        await fetch_nostr_pubkey(address)
    answer.update(allowsNostr=True, nostrPubkey="abc")
    with pytest.raises(LnurlError, match="64 hex"):
        await fetch_nostr_pubkey(address)
    with pytest.raises(LnurlError, match="cannot reach"):
        await fetch_nostr_pubkey("cp-001@127.0.0.1:1")


async def test_a_matching_configured_key_is_used(
    db: Database, lnurl_server: tuple[str, dict[str, object]]
) -> None:
    address, _ = lnurl_server
    charger = charger_with(address, ZAPPER, OTHER)
    trusted = await trusted_zappers([charger], ReceiptStore(db), fetch_nostr_pubkey, now=1.0)
    assert trusted == {"cp-001": frozenset({ZAPPER, OTHER})}


async def test_an_unlisted_announced_key_refuses_to_start(
    db: Database, lnurl_server: tuple[str, dict[str, object]]
) -> None:
    address, _ = lnurl_server
    with pytest.raises(ConfigError) as info:
        await trusted_zappers(
            [charger_with(address, OTHER)], ReceiptStore(db), fetch_nostr_pubkey, now=1.0
        )
    assert (info.value.file, info.value.key) == ("cp-001.toml", "zapper.trusted_pubkeys")
    assert "not listed" in info.value.message


async def test_without_configured_keys_the_first_answer_is_pinned(
    db: Database, lnurl_server: tuple[str, dict[str, object]]
) -> None:
    address, answer = lnurl_server
    store = ReceiptStore(db)
    charger = charger_with(address)
    assert await trusted_zappers([charger], store, fetch_nostr_pubkey, now=1.0) == {
        "cp-001": frozenset({ZAPPER})
    }
    assert await store.pin("cp-001") == (address, ZAPPER)
    answer["nostrPubkey"] = OTHER  # the address now names another zapper
    with pytest.raises(ConfigError, match="was pinned"):
        await trusted_zappers([charger], store, fetch_nostr_pubkey, now=2.0)


async def test_an_unreachable_address_falls_back_to_known_keys(db: Database) -> None:
    async def down(address: str) -> str:
        raise LnurlError("down")

    store = ReceiptStore(db)
    configured = charger_with("cp-001@pay.example.org", OTHER)
    assert await trusted_zappers([configured], store, down, now=1.0) == {
        "cp-001": frozenset({OTHER})
    }
    unknown = charger_with("cp-001@pay.example.org")
    with pytest.raises(ConfigError, match="cannot look up"):
        await trusted_zappers([unknown], store, down, now=1.0)
    await store.set_pin("cp-001", "cp-001@pay.example.org", ZAPPER, 1.0)
    assert await trusted_zappers([unknown], store, down, now=1.0) == {"cp-001": frozenset({ZAPPER})}
    # A pin of another address does not count for this one.
    assert unknown.zapper is not None
    moved = replace(unknown, zapper=replace(unknown.zapper, lightning_address="x@y.org"))
    with pytest.raises(ConfigError):
        await trusted_zappers([moved], store, down, now=1.0)
