"""Helpers of the nostr tests: a driver with their own client, configs, running services."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import nostr_sdk

from bot.app import register_chargers
from bot.config import ChargerConfig, Config, Connector, RelayConfig, Tariff, load_config
from bot.config.keys import ChargerKeys, generate_keys
from bot.nostr.pool import RelayPool
from bot.nostr.zap_relays import PoolZapRelays
from bot.store import Database
from tests.helpers import scaled, write_config

__all__ = [
    "Driver",
    "make_charger",
    "nostr_config",
    "open_db",
    "rumor_json",
    "running",
    "wait_until",
    "wrap_by_hand",
]


def make_charger(**changes: object) -> ChargerConfig:
    charger = ChargerConfig(
        id="cp-001",
        name="Harbour charger 1",
        about="22 kW Type 2, pay with a zap",
        picture="https://charge.example.org/img/cp-001.jpg",
        lat=48.1372,
        lon=11.5756,
        address="Hafenstrasse 1, 80331 Munich, DE",
        ocpp_password="change-me-please",
        connectors=(Connector(1, "Type2", 22000), Connector(2, "CCS2", 50000)),
        tariff=Tariff("static", 250_000, 0, 1_000_000, 200_000_000),
        key_file=Path("cp-001.key"),
        keys=generate_keys(),
    )
    return replace(charger, **changes)  # type: ignore[arg-type]


def nostr_config(
    root: Path,
    relay_urls: list[str],
    *,
    chargers: tuple[str, ...] = ("cp-001",),
    nip04_fallback: bool = False,
) -> Config:
    extra = f"\n[dm]\nnip04_fallback = {str(nip04_fallback).lower()}\n"
    path = write_config(root, chargers=chargers, extra=extra)
    relays = "".join(f'[[relay]]\nurl = "{url}"\n\n' for url in relay_urls)
    text = path.read_text().replace('[[relay]]\nurl = "ws://127.0.0.1:7777"\n\n', relays)
    path.write_text(text)
    return load_config(path, env={})


async def open_db(root: Path, config: Config) -> Database:
    db = await Database.open(root / "data" / "z.sqlite3")
    await register_chargers(config, db)
    return db


async def wait_until(
    check: Callable[[], Awaitable[bool]], seconds: float = 5.0, what: str = "condition"
) -> None:
    deadline = asyncio.get_running_loop().time() + scaled(seconds)
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


@asynccontextmanager
async def running(*services: Any) -> AsyncIterator[None]:
    """Run services (``bot.app.Service``) for the duration of the block."""
    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(s.run(), name=s.name) for s in services]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()


class Driver:
    """A driver's own nostr client (not ours), on the relays it is given."""

    def __init__(self, relays: list[str]) -> None:
        self.relays = relays
        self.keys = nostr_sdk.Keys.generate()
        self.client = nostr_sdk.ClientBuilder().build()

    @property
    def pubkey(self) -> str:
        return str(self.keys.public_key().to_hex())

    async def __aenter__(self) -> Driver:
        for url in self.relays:
            await self.client.add_relay(nostr_sdk.RelayUrl.parse(url))
        await self.client.connect(timedelta(seconds=scaled(3)))
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.client.shutdown()

    async def publish(self, event: Any) -> Any:
        output = await self.client.send_event(event)
        assert output.success, output.failed
        return event

    async def publish_signed(self, kind: int, content: str, tags: list[list[str]]) -> Any:
        builder = nostr_sdk.EventBuilder(nostr_sdk.Kind(kind), content).tags(
            [nostr_sdk.Tag.parse(t) for t in tags]
        )
        return await self.publish(builder.finalize(self.keys))

    async def fetch(self, query: Any, relays: list[str] | None = None) -> list[Any]:
        if relays is None:
            target = nostr_sdk.ReqTarget.auto([query])
        else:
            target = nostr_sdk.ReqTarget.manual(
                {nostr_sdk.RelayUrl.parse(u): [query] for u in relays}
            )
        return list(await self.client.fetch_events(target, timedelta(seconds=scaled(3))))

    async def fetch_json(self, query: Any) -> list[dict[str, Any]]:
        return [json.loads(e.as_json()) for e in await self.fetch(query)]

    def nip17_to(self, recipient: str, text: str) -> Any:
        return nostr_sdk.nip17_make_private_msg(
            self.keys, nostr_sdk.PublicKey.parse(recipient), text
        )

    def nip04_to(self, recipient: str, text: str) -> Any:
        receiver = nostr_sdk.PublicKey.parse(recipient)
        content = nostr_sdk.nip04_encrypt(self.keys.secret_key(), receiver, text)
        builder = nostr_sdk.EventBuilder(nostr_sdk.Kind(4), content).tags(
            [nostr_sdk.Tag.parse(["p", recipient])]
        )
        return builder.finalize(self.keys)

    async def inbox(self, relays: list[str] | None = None) -> list[tuple[str, str, str]]:
        """Every DM to us as (protocol, sender, text), decrypted with the driver's key."""
        me = self.keys.public_key()
        messages = []
        query = nostr_sdk.Filter().kinds([nostr_sdk.Kind(1059), nostr_sdk.Kind(4)]).pubkey(me)
        for event in await self.fetch(query, relays):
            if event.kind().as_u16() == 1059:
                gift = nostr_sdk.UnwrappedGift.from_gift_wrap(self.keys, event)
                rumor = gift.rumor()
                messages.append(("nip17", gift.sender().to_hex(), rumor.content()))
            else:
                text = nostr_sdk.nip04_decrypt(
                    self.keys.secret_key(), event.author(), event.content()
                )
                messages.append(("nip04", event.author().to_hex(), text))
        return sorted(messages)


def rumor_json(author: str, text: str, recipient: str, **changes: Any) -> str:
    rumor = {
        "pubkey": author,
        "created_at": int(time.time()),
        "kind": 14,
        "tags": [["p", recipient]],
        "content": text,
    }
    rumor.update(changes)
    return json.dumps(rumor)


def wrap_by_hand(
    seal_signer: nostr_sdk.Keys, rumor: str, receiver: ChargerKeys, *, seal_kind: int = 13
) -> nostr_sdk.Event:
    """A gift wrap built step by step, so each layer can be made wrong on purpose."""
    to = nostr_sdk.PublicKey.parse(receiver.public_key_hex)
    sealed = nostr_sdk.nip44_encrypt(seal_signer.secret_key(), to, rumor, nostr_sdk.Nip44Version.V2)
    seal = nostr_sdk.EventBuilder(nostr_sdk.Kind(seal_kind), sealed).finalize(seal_signer)
    one_time = nostr_sdk.Keys.generate()
    wrapped = nostr_sdk.nip44_encrypt(
        one_time.secret_key(), to, seal.as_json(), nostr_sdk.Nip44Version.V2
    )
    return (
        nostr_sdk.EventBuilder(nostr_sdk.Kind(1059), wrapped)
        .tags([nostr_sdk.Tag.parse(["p", receiver.public_key_hex])])
        .finalize(one_time)
    )


@asynccontextmanager
async def pool_zap_relays(url: str) -> AsyncIterator[PoolZapRelays]:
    """A driver's read-only view of one relay, pumped for the block."""
    pool = RelayPool([RelayConfig(url, read=True, write=False)])
    pump = asyncio.create_task(pool.run())
    try:
        yield PoolZapRelays(pool, fetch_timeout_s=scaled(3))
    finally:
        pump.cancel()
        await asyncio.gather(pump, return_exceptions=True)
        await pool.close()
