"""A raw NIP-47 client written for the tests, on our codec and a plain websocket, and a
simulated node with its wallet service on a real LocalRelay."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.asyncio.client import connect

from bot.errors import NostrError
from bot.lightning.nwc.protocol import (
    INFO_KIND,
    NOTIFICATION_KIND_NIP04,
    NOTIFICATION_KIND_NIP44,
    REQUEST_KIND,
    RESPONSE_KIND,
    Encryption,
    Notification,
    Request,
    Response,
    decode_notification,
    decode_response,
    encode_request,
)
from bot.lightning.nwc.relay_link import RelayLink
from bot.lightning.nwc.simwallet import SimWallet, WalletFaults, prepare_connection
from bot.lightning.simnode import SimnodeServer, serve_in_process
from bot.nostr.primitives import decrypt, encrypt, public_key_hex, sign_event
from tests.helpers import scaled

__all__ = ["RawClient", "World", "raw_client", "wallet_world"]


@dataclass
class Received:
    kind: int
    event_id: str
    encryption: Encryption
    notification: Notification


@dataclass
class RawClient:
    """Speaks NIP-47 to one wallet: publishes requests, collects responses and notifications."""

    link: RelayLink
    secret: str
    wallet_pubkey: str
    notifications: list[Received] = field(default_factory=list)
    _waiting: dict[str, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def pubkey(self) -> str:
        return public_key_hex(self.secret)

    def request_event(
        self, method: str, params: dict[str, Any], encryption: Encryption | None
    ) -> dict[str, Any]:
        """``encryption`` None: an older client, NIP-04 without an ``encryption`` tag."""
        scheme = encryption or Encryption.NIP04
        content = encrypt(
            scheme, self.secret, self.wallet_pubkey, encode_request(Request(method, params))
        )
        tags = [["p", self.wallet_pubkey]]
        if encryption is not None:
            tags.append(["encryption", encryption.value])
        return sign_event(self.secret, REQUEST_KIND, content, tags)

    async def call(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        encryption: Encryption | None = Encryption.NIP44_V2,
        wait_s: float = 5.0,
    ) -> Response:
        event = self.request_event(method, params or {}, encryption)
        reply = await self.send_and_wait(event, wait_s)
        return decode_response(
            decrypt(
                encryption or Encryption.NIP04, self.secret, self.wallet_pubkey, reply["content"]
            )
        )

    async def send_and_wait(self, event: dict[str, Any], wait_s: float) -> dict[str, Any]:
        """Publish a request event; the response event to it (TimeoutError if none comes)."""
        future = asyncio.get_running_loop().create_future()
        self._waiting[event["id"]] = future
        try:
            await self.link.publish(event)
            return await asyncio.wait_for(future, scaled(wait_s))
        finally:
            self._waiting.pop(event["id"], None)

    async def wait_notifications(self, count: int, wait_s: float = 5.0) -> list[Received]:
        async def enough() -> None:
            while len(self.notifications) < count:
                self._arrived.clear()
                await self._arrived.wait()

        await asyncio.wait_for(enough(), scaled(wait_s))
        return self.notifications

    async def read(self) -> None:
        while True:
            try:
                _, event = await self.link.next_event()
            except NostrError:
                return
            self._dispatch(event)

    def _dispatch(self, event: dict[str, Any]) -> None:
        kind = event["kind"]
        if kind == RESPONSE_KIND:
            for tag in event["tags"]:
                future = self._waiting.get(tag[1]) if tag[0] == "e" else None
                if future is not None and not future.done():
                    future.set_result(event)
        elif kind in (NOTIFICATION_KIND_NIP04, NOTIFICATION_KIND_NIP44):
            scheme = Encryption.NIP44_V2 if kind == NOTIFICATION_KIND_NIP44 else Encryption.NIP04
            text = decrypt(scheme, self.secret, event["pubkey"], event["content"])
            self.notifications.append(
                Received(kind, event["id"], scheme, decode_notification(text))
            )
            self._arrived.set()

    async def info(self) -> list[dict[str, Any]]:
        return await self.link.query([{"kinds": [INFO_KIND], "authors": [self.wallet_pubkey]}])


@asynccontextmanager
async def raw_client(relay_url: str, secret: str, wallet_pubkey: str) -> AsyncIterator[RawClient]:
    async with connect(relay_url) as connection:
        link = RelayLink(connection)
        client = RawClient(link, secret, wallet_pubkey)
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(link.pump())
            reader = tasks.create_task(client.read())
            kinds = [RESPONSE_KIND, NOTIFICATION_KIND_NIP04, NOTIFICATION_KIND_NIP44]
            await link.subscribe([{"kinds": kinds, "#p": [client.pubkey]}])
            try:
                yield client
            finally:
                reader.cancel()
                await link.close()


@dataclass
class World:
    server: SimnodeServer
    wallet: SimWallet
    client: RawClient
    client_secret: str
    lightning_dir: Path


@asynccontextmanager
async def wallet_world(
    lightning_dir: Path, relay_url: str, faults: WalletFaults | None = None
) -> AsyncIterator[World]:
    """A simulated node, its wallet service on ``relay_url``, and a raw client connected."""
    async with serve_in_process(lightning_dir) as server:
        wallet_secret, client_secret, _ = prepare_connection(server.node.state, relay_url)
        wallet = SimWallet(
            server.node,
            relay_url,
            wallet_secret=wallet_secret,
            client_pubkey=public_key_hex(client_secret),
            faults=faults,
        )
        async with asyncio.TaskGroup() as tasks:
            service = tasks.create_task(wallet.run())
            if wallet.faults.online:
                await asyncio.wait_for(wallet.ready.wait(), scaled(10))
            async with raw_client(relay_url, client_secret, wallet.pubkey) as client:
                try:
                    yield World(server, wallet, client, client_secret, lightning_dir)
                finally:
                    service.cancel()
