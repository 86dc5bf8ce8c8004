"""The bot's NWC backend on the simulated node's wallet service (``zapcharge simnode --nwc``
in-process), on a real LocalRelay: what the money tests run on for ``backend = "nwc"``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from bot.backoff import Backoff
from bot.config.nwc import parse_nwc_uri
from bot.lightning.nwc.backend import NwcBackend
from bot.lightning.nwc.client import NwcClient
from bot.lightning.nwc.simwallet import SimWallet, WalletFaults, prepare_connection
from bot.lightning.simnode import SimnodeServer
from bot.nostr.primitives import public_key_hex
from bot.store import Database
from tests.helpers import scaled

__all__ = ["nwc_backend"]

FAST = Backoff(first_s=0.01, cap_s=0.05, give_up_after_s=0.3)


@asynccontextmanager
async def nwc_backend(
    server: SimnodeServer,
    relay_url: str,
    db: Database,
    faults: WalletFaults | None = None,
    **options: Any,
) -> AsyncIterator[tuple[NwcBackend, SimWallet]]:
    """The node's wallet service running, and a backend connected to it (closed after)."""
    wallet_secret, client_secret, uri = prepare_connection(server.node.state, relay_url)
    wallet = SimWallet(
        server.node,
        relay_url,
        wallet_secret=wallet_secret,
        client_pubkey=public_key_hex(client_secret),
        faults=faults,
    )
    settings: dict[str, Any] = {
        "request_timeout_s": scaled(2),
        "pay_timeout_s": scaled(2),
        "poll_without_notifications_s": 0.2,
        "backoff": FAST,
    } | options
    async with asyncio.TaskGroup() as tasks:
        service = tasks.create_task(wallet.run(), name="simulated-nwc-wallet")
        if wallet.faults.online:
            await asyncio.wait_for(wallet.ready.wait(), scaled(10))
        client = NwcClient(parse_nwc_uri(uri), info_timeout_s=scaled(2))
        backend = NwcBackend(client, db, network="regtest", **settings)
        try:
            yield backend, wallet
        finally:
            await backend.close()
            service.cancel()
