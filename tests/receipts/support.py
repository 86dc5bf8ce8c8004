"""The external zapper of the tests: the operator's LNURL server, on the operator's node.

It issues zap invoices on the simulated node (which the bot also asks), lets the driver's
wallet pay them, and publishes kind 9735 receipts to the relays, well-formed or forged.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any

import nostr_sdk

from bot.config import ChargerConfig, RelayConfig
from bot.config.keys import ChargerKeys, generate_keys
from bot.config.zapper import ZapperConfig
from bot.lightning.cln import ClnBackend
from bot.lightning.simnode import SimnodeClient
from bot.nostr.keys import sdk_keys
from bot.nostr.pool import RelayPool
from bot.nostr.zaps import build_zap_request, parse_zap_request
from bot.receipts.listener import ReceiptListener
from bot.store import Database
from tests.helpers import scaled
from tests.nostr.support import make_charger

__all__ = ["Recorder", "Zap", "Zapper", "listening", "zapper_charger"]

ADDRESS = "cp-001@zapper.example.org"


def zapper_charger(zapper_keys: ChargerKeys, **changes: Any) -> ChargerConfig:
    zapper = ZapperConfig(ADDRESS, (zapper_keys.public_key_hex,), False, "cp-001.toml")
    return replace(make_charger(zapper=zapper), **changes)


async def register(db: Database, *chargers: ChargerConfig) -> None:
    async with db.transaction() as tx:
        for charger in chargers:
            await tx.execute(
                "INSERT INTO chargers (id, pubkey) VALUES (?, ?)",
                (charger.id, charger.keys.public_key_hex),
            )


class Recorder:
    """The session layer's SessionPayments port, recording what it is told."""

    def __init__(self) -> None:
        self.paid: list[tuple[str, int, int]] = []

    async def session_paid(self, payment_hash: str, amount_msat: int, paid_at: int) -> None:
        self.paid.append((payment_hash, amount_msat, paid_at))


@dataclass(frozen=True)
class Zap:
    receipt: str  # the kind 9735 JSON
    payment_hash: str
    driver: str  # pubkey hex


class Zapper:
    """Plays the operator's existing zapper (and the driver who zaps through it)."""

    def __init__(self, backend: ClnBackend, wallet: SimnodeClient, relays: Sequence[str]) -> None:
        self.keys = generate_keys()
        self.backend, self.wallet = backend, wallet
        self.relays = list(relays)
        self.pool = RelayPool([RelayConfig(u, read=False, write=True) for u in relays])
        self._labels = 0

    async def close(self) -> None:
        await self.pool.close()

    async def zap(
        self,
        recipient: str,
        amount_msat: int,
        *,
        comment: str = "",
        pay: bool = True,
        invoice_msat: int | None = None,
        description: str | None = None,
        signer: ChargerKeys | None = None,
        paid_at: int | None = None,
    ) -> Zap:
        """A receipt for a zap to ``recipient``; the keyword arguments forge it."""
        driver = generate_keys()
        now = int(time.time())
        raw = build_zap_request(
            driver,
            recipient_pubkey=recipient,
            amount_msat=amount_msat,
            relays=self.relays,
            comment=comment,
            lnurl=None,
            now=now,
        )
        request = parse_zap_request(
            raw,
            amount_msat=amount_msat,
            charger_pubkey=recipient,
            now=now,
            max_age_s=600,
            receipt_pubkey=self.keys.public_key_hex,
        )
        self._labels += 1
        invoice = await self.backend.create_invoice(
            invoice_msat or amount_msat,
            f"zapper-{self._labels}-{now}",
            description or raw,
            expiry_s=600,
            description_hash_only=True,
        )
        preimage = None
        if pay:
            await self.wallet.pay_invoice(invoice.bolt11)
            settled = await self.backend.lookup_invoice(invoice.payment_hash)
            assert settled is not None and settled.preimage
            preimage = settled.preimage
        tags = [["p", recipient], ["P", request.sender_pubkey], ["bolt11", invoice.bolt11]]
        tags += [["description", raw]] + ([["preimage", preimage]] if preimage else [])
        receipt = _sign(signer or self.keys, tags, paid_at or now)
        return Zap(receipt, invoice.payment_hash, driver.public_key_hex)

    async def publish(self, receipt: str, relays: Sequence[str] | None = None) -> None:
        answers = await self.pool.send(nostr_sdk.Event.from_json(receipt), relays or self.relays)
        assert all(a.ok for a in answers.values()), answers


def _sign(keys: ChargerKeys, tags: list[list[str]], created_at: int) -> str:
    builder = nostr_sdk.EventBuilder(nostr_sdk.Kind(9735), "").tags(
        [nostr_sdk.Tag.parse(tag) for tag in tags]
    )
    event = builder.custom_created_at(nostr_sdk.Timestamp.from_secs(created_at))
    return str(event.finalize(sdk_keys(keys)).as_json())


@asynccontextmanager
async def listening(listener: ReceiptListener, pool: RelayPool) -> AsyncIterator[None]:
    """Run the bot's relay pool and the listener until the block ends."""
    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(pool.run()), group.create_task(listener.run())]
        try:
            async with asyncio.timeout(scaled(10)):
                await listener.ready.wait()
            yield
        finally:
            for task in tasks:
                task.cancel()
