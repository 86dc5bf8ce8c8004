"""Nostr Wallet Connect against Core Lightning's JSON-RPC, to the same simulated node, in one run.

One ``zapcharge simnode --nwc`` process serves both: its unix socket (the bot's ``ClnBackend``,
pyln-client) and its simulated NIP-47 wallet service on a LocalRelay (the bot's
``NwcBackend``: sign, NIP-44 encrypt, relay, wallet, relay, decrypt, verify). Measured per
backend: invoices created per second and lookups per second, one caller in sequence and
then 8 callers at once; the NWC/CLN ratios are printed. A third column is a bare NIP-47
caller on a plain websocket (``RelayLink``, which acknowledges every frame at once): the
same wallet and relay without the nostr-sdk client, to tell the wallet's cost from the
client's. Bounded: a fixed number of calls, each under a timeout.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from websockets.asyncio.client import connect

from bot.config.nwc import NwcUri, read_nwc_uri_file
from bot.lightning.cln import ClnBackend
from bot.lightning.nwc.backend import NwcBackend
from bot.lightning.nwc.client import NwcClient
from bot.lightning.nwc.protocol import (
    REQUEST_KIND,
    RESPONSE_KIND,
    Encryption,
    Request,
    decode_response,
    encode_request,
)
from bot.lightning.nwc.relay_link import RelayLink
from bot.lightning.nwc.simwallet import WalletOptions
from bot.lightning.simnode import running_subprocess
from bot.nostr.primitives import decrypt, encrypt, public_key_hex, sign_event
from bot.nostr.relay import local_relay
from bot.ports.lightning import LightningBackend
from bot.store import Database

CALLS = 200
CALLERS = 8


async def _rate(calls: int, callers: int, one: Callable[[int], Awaitable[object]]) -> float:
    """Calls per second of ``one(i)`` for i in 0..calls-1, spread over ``callers`` tasks."""

    async def caller(offset: int) -> None:
        for i in range(offset, calls, callers):
            await one(i)

    started = time.perf_counter()
    async with asyncio.TaskGroup() as tasks:
        for k in range(callers):
            tasks.create_task(caller(k))
    return calls / (time.perf_counter() - started)


async def _measure(name: str, backend: LightningBackend) -> dict[str, float]:
    hashes: list[str] = []

    async def create(i: int) -> None:
        invoice = await backend.create_invoice(
            1_000 + i, f"{name}-{len(hashes)}-{i}", "bench", expiry_s=3600
        )
        hashes.append(invoice.payment_hash)

    async def lookup(i: int) -> None:
        if await backend.lookup_invoice(hashes[i % len(hashes)]) is None:
            raise RuntimeError(f"{name}: an invoice just made was not found")

    figures = {"create_1": await _rate(CALLS, 1, create)}
    figures["create_8"] = await _rate(CALLS, CALLERS, create)
    figures["lookup_1"] = await _rate(CALLS, 1, lookup)
    figures["lookup_8"] = await _rate(CALLS, CALLERS, lookup)
    return figures


async def _bare(uri: NwcUri) -> dict[str, float]:
    """One caller in sequence, NIP-47 by hand over RelayLink: make_invoice, lookup_invoice."""
    nip44 = Encryption.NIP44_V2
    async with connect(uri.relays[0]) as connection:
        link = RelayLink(connection)
        async with asyncio.TaskGroup() as tasks:
            pump = tasks.create_task(link.pump())
            mine = public_key_hex(uri.secret)
            await link.subscribe([{"kinds": [RESPONSE_KIND], "#p": [mine]}])

            async def call(method: str, params: dict[str, object]) -> dict[str, object]:
                text = encode_request(Request(method, params))
                content = encrypt(nip44, uri.secret, uri.wallet_pubkey, text)
                tags = [["p", uri.wallet_pubkey], ["encryption", nip44.value]]
                await link.send(sign_event(uri.secret, REQUEST_KIND, content, tags))
                _, reply = await asyncio.wait_for(link.next_event(), 10)
                answer = decode_response(
                    decrypt(nip44, uri.secret, uri.wallet_pubkey, reply["content"])
                )
                assert answer.result is not None, answer.error
                return dict(answer.result)

            hashes: list[str] = []

            async def create(i: int) -> None:
                made = await call("make_invoice", {"amount": 1_000 + i, "description": "b"})
                hashes.append(str(made["payment_hash"]))

            async def lookup(i: int) -> None:
                await call("lookup_invoice", {"payment_hash": hashes[i]})

            figures = {"create_1": await _rate(CALLS, 1, create)}
            figures["lookup_1"] = await _rate(CALLS, 1, lookup)
            await link.close()
            await pump
    return figures


async def run() -> None:
    with tempfile.TemporaryDirectory(prefix="zc-bench-nwc-") as tmp:
        root = Path(tmp)
        async with local_relay() as relay_url:
            options = WalletOptions(root / "wallet.nwc", relay_url)
            async with running_subprocess(root / "ln", nwc=options) as node:
                cln = ClnBackend(node.rpc_path)
                db = await Database.open(root / "bot.sqlite3")
                uri = read_nwc_uri_file(options.uri_file, "bench", "nwc_uri_file")
                nwc = NwcBackend(NwcClient(uri), db, network="regtest")
                try:
                    await nwc.ready()
                    over_cln = await _measure("cln", cln)
                    over_nwc = await _measure("nwc", nwc)
                    bare = await _bare(uri)
                finally:
                    await nwc.close()
                    await cln.close()
                    await db.close()
    for key, what in (
        ("create_1", "invoices created, one caller"),
        ("create_8", f"invoices created, {CALLERS} callers"),
        ("lookup_1", "lookups, one caller"),
        ("lookup_8", f"lookups, {CALLERS} callers"),
    ):
        by_hand = f"   bare NIP-47 {bare[key]:7,.0f}/s" if key in bare else ""
        print(
            f"{what:32} CLN RPC {over_cln[key]:7,.0f}/s   NWC {over_nwc[key]:7,.0f}/s   "
            f"NWC/CLN {over_nwc[key] / over_cln[key]:.2f}{by_hand}"
        )
    print(
        f"({CALLS} calls each; one simnode process serves both; NWC goes through a LocalRelay "
        "and the simulated wallet service, NIP-44 both ways)"
    )
