"""The whole bot, as ``zapcharge run`` runs it (``bot.app.serve``), for the driver-feature
tests: a LocalRelay, the simulated Lightning node (the operator's) and a second one (the
drivers' wallet), a simulated OCPP charger over real websockets, and drivers with their own
nostr clients who zap, DM the charger and read the answers back from the relay.

The bot can be stopped and started again on the same data (``restart``); the books are read
straight from its SQLite file, read-only, while it runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bot.app import serve
from bot.config import Config, RelayConfig, load_config
from bot.config.keys import ChargerKeys
from bot.driver.zap import zap
from bot.identity import NewCharger, create_identity
from bot.lightning.simnode import SimnodeClient, read_payments, serve_in_process
from bot.lnurl.client import LnurlClient
from bot.lnurl.codec import decode_lnurl
from bot.nostr.pool import RelayPool
from bot.nostr.relay import free_port, local_relay
from bot.nostr.zap_relays import PoolZapRelays
from bot.ocpp.simcharger import SimCharger, SimSettings
from bot.ocpp.v201.simcharger import SimCharger201
from bot.ports.bolt11 import NETWORK_CURRENCY
from tests.helpers import scaled
from tests.nostr.support import Driver

__all__ = ["Bot", "Driver", "bot_stack", "wait_for"]

CHARGER = "cp-001"


async def wait_for(probe: Callable[[], Any], within: float = 15.0, what: str = "condition") -> Any:
    """Poll ``probe`` (sync or async) until it gives something truthy; return that."""
    deadline = time.monotonic() + scaled(within)
    while True:
        value = probe()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not met within {within} s")
        await asyncio.sleep(0.1)


def _write_config(
    root: Path, relay_url: str, ports: tuple[int, int], *, tariff: str, drivers: str
) -> Path:
    ocpp, http = ports
    path = root / "relays.toml"
    path.write_text(
        f'[[relay]]\nurl = "{relay_url}"\n\n'
        f'[service]\npublic_url = "http://127.0.0.1:{http}"\n'
        'data_dir = "data"\nidentities_dir = "identities"\n\n'
        f'[ocpp]\nlisten = "127.0.0.1:{ocpp}"\n\n[http]\nlisten = "127.0.0.1:{http}"\n\n'
        '[lightning]\nbackend = "simnode"\nlightning_dir = "lightning"\n\n'
        "[sessions]\nsample_interval_s = 2\nstart_timeout_s = 20\nstop_timeout_s = 10\n"
        "disconnect_timeout_s = 10\n\n"
        f"[drivers]\n{drivers}\n",
        encoding="utf-8",
    )
    create_identity(
        root / "identities",
        NewCharger(id=CHARGER, name="Harbour charger", lat=48.1372, lon=11.5756),
        passphrase=None,
    )
    identity = root / "identities" / f"{CHARGER}.toml"
    text = identity.read_text(encoding="utf-8")
    identity.write_text(text.replace("[tariff]\n", "[tariff]\n" + tariff), encoding="utf-8")
    return path


@dataclass
class Bot:
    root: Path
    config: Config
    relay_url: str
    http_port: int
    ocpp_port: int
    wallet: SimnodeClient  # the drivers' wallet: pays our invoices, makes refund invoices
    http: aiohttp.ClientSession
    stack: AsyncExitStack
    sim: SimCharger | None = None
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None

    @property
    def db_path(self) -> Path:
        return self.config.service.database_path

    async def start(self) -> None:
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(serve(self.config, self._stop))
        await wait_for(self._healthy, 20, "the bot's HTTP server")

    async def stop(self) -> None:
        if self._task is not None:
            self._stop.set()
            await asyncio.wait_for(self._task, scaled(20))
            self._task = None

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    async def _healthy(self) -> bool:
        if self._task is not None and self._task.done():
            self._task.result()  # the bot died: show why
        try:
            async with self.http.get(f"http://127.0.0.1:{self.http_port}/healthz") as answer:
                return answer.status == 200
        except aiohttp.ClientError:
            return False

    async def charger(self, ocpp: str = "1.6", **settings: Any) -> SimCharger:
        charger = self.config.chargers[0]
        defaults: dict[str, Any] = {"clock_speed": 1.0, "reconnect_delay_s": 0.2}
        sim = (SimCharger201 if ocpp == "2.0.1" else SimCharger)(
            SimSettings(
                f"ws://127.0.0.1:{self.ocpp_port}/ocpp",
                charger.id,
                charger.ocpp_password,
                **(defaults | settings),
            )
        )
        task = asyncio.create_task(sim.run())

        async def stop() -> None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

        self.stack.push_async_callback(stop)
        self.sim = sim
        await wait_for(lambda: self.status(1) == "Available", 20, "connector 1 Available")
        return sim

    # -- what the bot stored ----------------------------------------------------------------

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with contextlib.closing(
            sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=5)
        ) as raw:
            raw.row_factory = sqlite3.Row
            return list(raw.execute(sql, params).fetchall())

    def status(self, connector_id: int) -> str | None:
        if not self.db_path.exists():
            return None
        found = self.rows(
            "SELECT status FROM connector_status WHERE charger_id = ? AND connector_id = ?",
            (CHARGER, connector_id),
        )
        return str(found[0]["status"]) if found else None

    def reservation(self) -> sqlite3.Row:
        return self.rows("SELECT * FROM reservations ORDER BY id DESC LIMIT 1")[0]

    def reservation_state(self) -> str | None:
        found = self.rows("SELECT state FROM reservations ORDER BY id DESC LIMIT 1")
        return str(found[0]["state"]) if found else None

    def session(self, session_id: str) -> sqlite3.Row:
        return self.rows("SELECT * FROM sessions WHERE id = ?", (session_id,))[0]

    def session_of(self, payment_hash: str) -> sqlite3.Row | None:
        found = self.rows("SELECT * FROM sessions WHERE payment_hash = ?", (payment_hash,))
        return found[0] if found else None

    def paid_out(self, bolt11: str) -> int:
        """What our node paid for one invoice of the drivers' wallet (msat, complete only)."""
        payments = read_payments(self.config.lightning.lightning_dir, "regtest")
        return sum(p.amount_msat for p in payments if p.bolt11 == bolt11 and p.status == "complete")

    # -- what a driver does -----------------------------------------------------------------

    async def zap(self, driver: Driver, amount_msat: int, comment: str = "") -> str:
        """Zap the charger as a nostr client does, paid from the wallet; the payment hash."""
        pool = RelayPool([RelayConfig(self.relay_url)])
        pump = asyncio.create_task(pool.run())
        try:
            outcome = await zap(
                f"{CHARGER}@127.0.0.1:{self.http_port}",
                amount_msat,
                driver_keys=ChargerKeys.from_secret(
                    bytes.fromhex(driver.keys.secret_key().to_hex())
                ),
                relays=PoolZapRelays(pool, fetch_timeout_s=scaled(3)),
                receipt_relays=[self.relay_url],
                client=LnurlClient(self.http, allow_loopback=True),
                currency=NETWORK_CURRENCY["regtest"],
                now=int(time.time()),
                comment=comment,
                pay=self.wallet_pay,
                wait_s=scaled(15),
            )
        finally:
            pump.cancel()
            await asyncio.gather(pump, return_exceptions=True)
            await pool.close()
        return outcome.payment_hash

    async def wallet_pay(self, bolt11: str) -> None:
        """The drivers' wallet pays our node's invoice (the node sees it paid)."""
        operator = SimnodeClient(self.config.lightning.lightning_dir, "regtest")
        await operator.pay_invoice(bolt11)

    async def lnurl_pay(self, url: str, amount_msat: int) -> dict[str, Any]:
        """A plain LNURL-pay from a wallet without nostr: offer, callback, pay; the answer."""
        client = LnurlClient(self.http, allow_loopback=True)
        offer = await client.pay_request(url)
        pr = await client.invoice(offer, amount_msat)
        await self.wallet_pay(pr)
        async with self.http.get(url) as answer:
            served = await answer.json(content_type=None)
        return {"pr": pr, "offer": served}

    async def callback(self, url: str, **params: str) -> dict[str, Any]:
        """The LNURL callback's raw JSON answer (for refusals)."""
        async with self.http.get(url) as answer:
            offer = await answer.json(content_type=None)
        callback = str(offer["callback"])
        joiner = "&" if "?" in callback else "?"
        query = "&".join(f"{k}={v}" for k, v in params.items())
        async with self.http.get(f"{callback}{joiner}{query}") as answer:
            return dict(await answer.json(content_type=None))

    async def dm(self, driver: Driver, text: str) -> None:
        await driver.publish(driver.nip17_to(self.config.chargers[0].keys.public_key_hex, text))

    async def dm_texts(self, driver: Driver) -> list[str]:
        return [text for _, _, text in await driver.inbox()]

    async def dm_matching(self, driver: Driver, pattern: str, within: float = 15.0) -> str:
        async def probe() -> str | None:
            return next((t for t in await self.dm_texts(driver) if re.search(pattern, t)), None)

        found: str = await wait_for(probe, within, f"a DM matching {pattern!r}")
        return found

    async def claim_refund(self, link_text: str) -> int:
        """Redeem an LNURL-withdraw link (a DM or the page) with the wallet; msat paid."""
        match = re.search(r"(lnurl1[0-9a-z]+)", link_text, re.IGNORECASE)
        assert match is not None, link_text
        async with self.http.get(decode_lnurl(match.group(1))) as answer:
            offer = await answer.json(content_type=None)
        amount = int(offer["maxWithdrawable"])
        label = f"refund-{time.monotonic_ns()}"
        invoice = await self.wallet.call(
            "invoice", {"amount_msat": amount, "label": label, "description": "refund"}
        )
        params = {"k1": offer["k1"], "pr": invoice["bolt11"]}
        async with self.http.get(offer["callback"], params=params) as answer:
            assert (await answer.json(content_type=None))["status"] == "OK"
        await wait_for(lambda: self.paid_out(invoice["bolt11"]) == amount, 15, "refund paid")
        return amount


@asynccontextmanager
async def bot_stack(
    root: Path,
    *,
    tariff: str = "reservation_minutes = 1\nreservation_fee_msat = 200000\n",
    drivers: str = "notify_next_after_s = 2\n",
) -> AsyncIterator[Bot]:
    async with AsyncExitStack() as stack:
        relay_url = await stack.enter_async_context(local_relay())
        await stack.enter_async_context(serve_in_process(root / "lightning"))
        await stack.enter_async_context(serve_in_process(root / "wallet"))
        http = await stack.enter_async_context(aiohttp.ClientSession())
        ocpp, port = free_port(), free_port()
        config = load_config(
            _write_config(root, relay_url, (ocpp, port), tariff=tariff, drivers=drivers), env={}
        )
        bot = Bot(root, config, relay_url, port, ocpp, SimnodeClient(root / "wallet"), http, stack)
        stack.push_async_callback(bot.stop)
        await bot.start()
        yield bot


def books_of_reservation(bot: Bot) -> dict[str, int]:
    """Where the fee of the last reservation went, from the rows: kept, credited, refunded."""
    r = bot.reservation()
    refunded = 0
    if r["refund_session_id"] is not None:
        refund = bot.session(r["refund_session_id"])
        refunded = int(refund["paid_msat"])
    credited = 0
    if r["credited_session_id"] is not None:
        found = bot.rows(
            "SELECT amount_msat FROM session_topups WHERE payment_hash = ?", (r["payment_hash"],)
        )
        credited = sum(int(row["amount_msat"]) for row in found)
    return {
        "paid": int(r["paid_msat"]),
        "kept": int(r["kept_msat"]),
        "credited": credited,
        "refunded": refunded,
    }
