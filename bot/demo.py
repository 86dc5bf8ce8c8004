"""``zapcharge demo``: the whole story on embedded defaults, narrated, in well under a minute.

Everything here is real and local: a nostr-sdk LocalRelay, the simulated Lightning node
(the operator's, and a second one as the driver's wallet), the bot itself (``serve``,
exactly what ``zapcharge run`` runs), a simulated OCPP 1.6-J charger with its clock sped
up, and a driver who zaps like a nostr client and reads DMs back from the relay. Each step
is checked; the exit status is 0 only if every one of them really happened.

With ``backend="nwc"`` the bot reaches the operator's node not over Core Lightning's socket
but over Nostr Wallet Connect: the node's simulated NIP-47 wallet service runs on a second
LocalRelay of its own (``bot.lightning.nwc.simwallet``), and the bot's config says
``backend = "nwc"`` with the connection URI the wallet wrote.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import aiohttp

from bot.app import serve
from bot.config import Config, RelayConfig, load_config
from bot.config.keys import ChargerKeys, generate_keys
from bot.driver.zap import zap
from bot.identity import NewCharger, create_identity
from bot.lightning.nwc.simwallet import WalletOptions, build_wallet
from bot.lightning.simnode import SimnodeClient, read_payments, serve_in_process
from bot.lightning.simnode.node import SimNode
from bot.lnurl.client import LnurlClient
from bot.lnurl.codec import decode_lnurl
from bot.nostr.mailbox import Mailbox
from bot.nostr.pool import RelayPool
from bot.nostr.relay import free_port, local_relay
from bot.nostr.watch import WatchTable, fetch_status_table
from bot.nostr.zap_relays import PoolZapRelays
from bot.ocpp.simcharger import SimCharger, SimSettings
from bot.ocpp.v201.simcharger import SimCharger201
from bot.ports.bolt11 import NETWORK_CURRENCY
from bot.sessions.machine import State
from bot.sessions.record import Session
from bot.sessions.records import SessionRecords
from bot.store import Database

__all__ = ["BACKENDS", "DemoFailed", "run_demo", "write_demo_config"]

BACKENDS = ("simnode", "nwc")
NWC_URI_FILE = "wallet.nwc"

CHARGER_ID = "cp-001"
ZAP_SATS = 1000  # at 250 sat/kWh: a budget of about 4 kWh
CLOCK_SPEED = 120.0  # simulated seconds per real second: 4 kWh at 22 kW in a few seconds
STEP_TIMEOUT_S = 30.0

T = TypeVar("T")


class DemoFailed(Exception):
    """A step of the story did not happen."""


def write_demo_config(
    root: Path, *, relay_url: str, ocpp_port: int, http_port: int, backend: str = "simnode"
) -> Path:
    """A relays.toml (and one charger) for a local installation under ``root``.

    ``backend`` "nwc": the bot pays and is paid through the wallet whose URI is in
    ``root/wallet.nwc`` (``lightning_dir`` still names the node, for the demo's own checks).
    """
    nwc = f'nwc_uri_file = "{NWC_URI_FILE}"\n' if backend == "nwc" else ""
    config_path = root / "relays.toml"
    config_path.write_text(
        f'[[relay]]\nurl = "{relay_url}"\n\n'
        "[service]\n"
        f'public_url = "http://127.0.0.1:{http_port}"\n'
        'data_dir = "data"\nidentities_dir = "identities"\n\n'
        f'[ocpp]\nlisten = "127.0.0.1:{ocpp_port}"\n\n'
        f'[http]\nlisten = "127.0.0.1:{http_port}"\n\n'
        f'[lightning]\nbackend = "{backend}"\n{nwc}lightning_dir = "lightning"\n'
        'network = "regtest"\n\n'
        # Short timings so the story fits in seconds; the charger's clock runs fast too.
        "[sessions]\nsample_interval_s = 10\nprogress_every_wh = 1000\nstop_latency_s = 5\n",
        encoding="utf-8",
    )
    create_identity(
        root / "identities",
        NewCharger(
            id=CHARGER_ID,
            name="Demo harbour charger",
            about="22 kW Type 2, pay with a zap",
            lat=48.1372,
            lon=11.5756,
            address="Hafenstrasse 1, 80331 Munich, DE",
            max_power_w=22_000,
        ),
        passphrase=None,
    )
    return config_path


@dataclass
class Narrator:
    say: Callable[[str], None] = print
    started: float = field(default_factory=time.monotonic)
    steps: int = 0

    def step(self, text: str) -> None:
        self.steps += 1
        self.say(f"[{time.monotonic() - self.started:5.1f}s] {self.steps}. {text}")

    def detail(self, text: str) -> None:
        for line in text.splitlines():
            self.say(f"          {line}")


async def until(what: str, probe: Callable[[], Awaitable[T | None]], timeout_s: float) -> T:
    """Poll ``probe`` until it returns something; DemoFailed naming ``what`` otherwise."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = await probe()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise DemoFailed(f"timed out waiting for: {what}")
        await asyncio.sleep(0.2)


async def run_demo(
    say: Callable[[str], None] = print, ocpp: str = "1.6", backend: str = "simnode"
) -> int:
    """``ocpp``: the protocol the simulated charger speaks, "1.6" or "2.0.1"; ``backend``:
    how the bot reaches the operator's node, "simnode" (its JSON-RPC) or "nwc"."""
    narrator = Narrator(say)
    try:
        with tempfile.TemporaryDirectory(prefix="zapcharge-demo-") as tmp:
            await _story(Path(tmp), narrator, ocpp, backend)
    except DemoFailed as exc:
        say(f"DEMO FAILED: {exc}")
        return 1
    say(f"demo complete: every step happened ({time.monotonic() - narrator.started:.1f} s)")
    return 0


@contextlib.asynccontextmanager
async def _running(coro: Awaitable[None], name: str) -> AsyncIterator[asyncio.Task[None]]:
    """Run ``coro`` as a task owned by this block; cancelled and awaited when it ends."""
    task = asyncio.ensure_future(coro)
    task.set_name(name)
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _story(root: Path, narrator: Narrator, ocpp: str, backend: str) -> None:
    async with (
        local_relay() as relay_url,
        serve_in_process(root / "lightning") as operator_node,
        serve_in_process(root / "driver-wallet") as driver_wallet,
        contextlib.AsyncExitStack() as stack,
    ):
        lightning = (
            "simulated Lightning nodes (operator and driver wallet: a simulation, not lightningd)"
        )
        if backend == "nwc":
            wallet_relay = await stack.enter_async_context(local_relay())
            await _start_nwc_wallet(stack, operator_node.node, root, wallet_relay)
            lightning += (
                f", the operator's node reached over Nostr Wallet Connect: a SIMULATED NIP-47 "
                f"wallet service on its own relay {wallet_relay}"
            )
        ocpp_port, http_port = free_port(), free_port()
        config_path = write_demo_config(
            root, relay_url=relay_url, ocpp_port=ocpp_port, http_port=http_port, backend=backend
        )
        config = load_config(config_path, env={})
        charger = config.chargers[0]
        narrator.step(
            f"local relay {relay_url}, {lightning}, charger identity "
            + charger.keys.npub
            + f", speaking OCPP {ocpp}"
        )
        stop = asyncio.Event()
        async with _running(serve(config, stop), "bot") as bot:
            await until("the bot's HTTP server", lambda: _healthy(http_port), STEP_TIMEOUT_S)
            simulator = SimCharger201 if ocpp == "2.0.1" else SimCharger
            sim = simulator(
                SimSettings(
                    url=f"ws://127.0.0.1:{ocpp_port}/ocpp",
                    charger_id=charger.id,
                    password=charger.ocpp_password,
                    power_w=22_000,
                    clock_speed=CLOCK_SPEED,
                    sample_interval_s=60,
                )
            )
            async with _running(sim.run(), "sim-charger"):
                wallet = SimnodeClient(root / "driver-wallet")
                await _act(config, narrator, relay_url, http_port, wallet)
            stop.set()
            await bot
        del operator_node, driver_wallet


async def _start_nwc_wallet(
    stack: contextlib.AsyncExitStack, node: SimNode, root: Path, relay_url: str
) -> None:
    """The operator node's simulated wallet service, serving before the bot reads its URI."""
    wallet = build_wallet(node, WalletOptions(root / NWC_URI_FILE, relay_url))
    await stack.enter_async_context(_running(wallet.run(), "nwc-wallet"))
    try:
        await asyncio.wait_for(wallet.ready.wait(), STEP_TIMEOUT_S)
    except TimeoutError:
        raise DemoFailed("the simulated NWC wallet service did not come up") from None


async def _healthy(port: int) -> bool | None:
    try:
        async with (
            aiohttp.ClientSession() as client,
            client.get(f"http://127.0.0.1:{port}/healthz") as response,
        ):
            return True if response.status == 200 else None
    except aiohttp.ClientError:
        return None


async def _act(
    config: Config, narrator: Narrator, relay_url: str, http_port: int, wallet: SimnodeClient
) -> None:
    charger = config.chargers[0]
    pool = RelayPool([RelayConfig(relay_url)])  # the driver's own nostr client
    try:
        async with _running(pool.run(), "driver-relays"), aiohttp.ClientSession() as http:
            await _published(charger.id, pool, narrator)
            driver = generate_keys()
            since = int(time.time())
            payment_hash = await _zap(
                config,
                narrator,
                pool=pool,
                http=http,
                driver=driver,
                relay_url=relay_url,
                http_port=http_port,
            )
            inbox = _Inbox(Mailbox(pool, driver), since, narrator)
            narrator.step("charging; the driver's DMs, read back from the relay and decrypted:")
            await inbox.wait_for("the 'charging started' DM", "Charging started")
            await inbox.wait_for("the final receipt DM", "Charging stopped")
            narrator.step("budget reached: the bot stopped the charge before overshooting")
            link = await inbox.wait_for("the refund link DM", "Your refund of")
            await _claim_refund(config, narrator, http, wallet, link)
            await inbox.wait_for("the 'refund paid' DM", "Refund of")
            await _check_books(config, narrator, payment_hash)
    finally:
        await pool.close()


async def _published(charger_id: str, pool: RelayPool, narrator: Narrator) -> None:
    async def available() -> WatchTable | None:
        table = await fetch_status_table(pool, timeout_s=2.0)
        rows = [r for r in table.rows(time.time()) if r.charger_id == charger_id]
        return table if rows and all(c[1] == "Available" for c in rows[0].connectors) else None

    table = await until("the charger's Available status on the relay", available, STEP_TIMEOUT_S)
    narrator.step("the charger is online and published; `zapcharge watch` shows:")
    narrator.detail(table.render(time.time()))


async def _zap(
    config: Config,
    narrator: Narrator,
    *,
    pool: RelayPool,
    http: aiohttp.ClientSession,
    driver: ChargerKeys,
    relay_url: str,
    http_port: int,
) -> str:
    address = f"{config.chargers[0].id}@127.0.0.1:{http_port}"
    narrator.step(f"a driver ({driver.npub[:16]}...) zaps {ZAP_SATS} sats to {address}")
    operator = SimnodeClient(config.lightning.lightning_dir, config.lightning.network)
    outcome = await zap(
        address,
        ZAP_SATS * 1000,
        driver_keys=driver,
        relays=PoolZapRelays(pool),
        receipt_relays=[relay_url],
        client=LnurlClient(http, allow_loopback=True),
        currency=NETWORK_CURRENCY[config.lightning.network],
        now=int(time.time()),
        comment="demo charge",
        pay=operator.pay_invoice,  # the driver's wallet pays: the node sees its invoice paid
        wait_s=STEP_TIMEOUT_S,
    )
    narrator.step(
        f"invoice paid; the zap receipt {str(outcome.receipt_id)[:16]}... is on the relay "
        "and checks out (NIP-57 appendix F)"
    )
    return outcome.payment_hash


class _Inbox:
    """The driver's DMs as read back from the relay, each printed once, in order."""

    def __init__(self, mailbox: Mailbox, since: int, narrator: Narrator) -> None:
        self.mailbox, self.since, self.narrator = mailbox, since, narrator
        self.seen: set[str] = set()
        self.unread: list[str] = []  # fetched, not printed yet
        self.printed: list[str] = []

    async def wait_for(self, what: str, prefix: str) -> str:
        """Print DMs up to and including the first that starts with ``prefix``; return it."""

        async def probe() -> str | None:
            # DMs sent within one second may come back in either order: print in the order
            # read, and stop at the first one (printed now or earlier) that matches.
            while True:
                found = next((t for t in self.printed if t.startswith(prefix)), None)
                if found is not None or not self.unread:
                    break
                text = self.unread.pop(0)
                self.narrator.detail(f"DM> {text}")
                self.printed.append(text)
            if found is None:
                for message in await self.mailbox.messages(self.since, timeout_s=1.0):
                    if message.message_id not in self.seen:
                        self.seen.add(message.message_id)
                        self.unread.append(message.text)
            return found

        return await until(what, probe, STEP_TIMEOUT_S)


async def _claim_refund(
    config: Config,
    narrator: Narrator,
    http: aiohttp.ClientSession,
    wallet: SimnodeClient,
    link_text: str,
) -> None:
    match = re.search(r"lightning:(lnurl1[0-9a-z]+)", link_text, re.IGNORECASE)
    if match is None:
        raise DemoFailed("the refund DM carries no LNURL-withdraw link")
    async with http.get(decode_lnurl(match.group(1))) as response:
        offer = await response.json(content_type=None)
    if offer.get("tag") != "withdrawRequest":
        raise DemoFailed(f"the refund link is not an LNURL-withdraw: {offer}")
    amount = int(offer["maxWithdrawable"])
    invoice = await wallet.call(
        "invoice",
        {"amount_msat": amount, "label": "demo-refund", "description": "zapcharge refund"},
    )
    params = {"k1": offer["k1"], "pr": invoice["bolt11"]}
    async with http.get(offer["callback"], params=params) as response:
        answer = await response.json(content_type=None)
    if answer.get("status") != "OK":
        raise DemoFailed(f"the withdraw callback refused: {answer}")

    async def paid() -> bool | None:
        payments = read_payments(config.lightning.lightning_dir, config.lightning.network)
        done = [p for p in payments if p.bolt11 == invoice["bolt11"] and p.status == "complete"]
        return True if done else None

    await until("the refund payment", paid, STEP_TIMEOUT_S)
    narrator.step(
        f"refund of {amount // 1000} sats withdrawn: the driver's wallet made an invoice, "
        "the operator's node paid it"
    )


async def _check_books(config: Config, narrator: Narrator, payment_hash: str) -> None:
    db = await Database.open(config.service.database_path)
    try:
        store = SessionRecords(db)

        async def closed() -> Session | None:
            session = await store.by_payment_hash(payment_hash)
            return session if session is not None and session.state is State.CLOSED else None

        session = await until("the session to close", closed, STEP_TIMEOUT_S)
    finally:
        await db.close()
    kept = session.consumed_msat + session.fees_msat
    refunded = session.refund_msat or 0
    if kept + refunded + session.waived_msat != session.paid_msat:
        raise DemoFailed(f"the books do not balance for session {session.id}")
    narrator.step(
        f"session {session.id} closed: {session.energy_wh / 1000:.3f} kWh, paid "
        f"{session.paid_msat} msat = {kept} kept + {refunded} refunded"
    )
