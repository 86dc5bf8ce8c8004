"""LNURL over HTTP on 127.0.0.1, with the simulated node in its own process (as in production).

- zap callbacks: GET callback with a fresh signed zap request -> checked, admitted, invoice
  from the node, session and invoice rows stored; one caller, then 8 at once; p50/p99;
- paid -> zap receipt queued -> session told: pay from the wallet side, time until the
  handler has queued the receipt and handed the payment over (watcher included);
- LNURL-withdraw: GET the link, GET the callback with the driver's invoice, paid by the node.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import socket
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import aiohttp
from bolt11 import Bolt11, MilliSatoshi, TagChar, Tags, encode

from bot.app import register_chargers
from bot.config import Config, ListenAddress, load_config
from bot.config.keys import generate_keys
from bot.identity import NewCharger, create_identity
from bot.lightning.cln import ClnBackend
from bot.lightning.simnode import SimnodeClient, running_subprocess
from bot.lnurl.server import HttpServer
from bot.lnurl.stack import LnurlStack
from bot.nostr.zaps import build_zap_request
from bot.ports.bolt11 import decode_invoice
from bot.sessions.machine import Event, State
from bot.sessions.records import SessionRecords
from bot.store import Database
from bot.store.chargers import ChargerStore, ConnectorState

SEQUENTIAL = 300
CONCURRENT = 400
CALLERS = 8
PAID = 150
WITHDRAWS = 100
AMOUNT = 5_000_000


class Timings:
    """Outbox and session port in one: when each payment's receipt and hand-over happened."""

    def __init__(self) -> None:
        self.queued: dict[str, float] = {}
        self.told: dict[str, asyncio.Future[float]] = {}

    def expect(self, payment_hash: str) -> asyncio.Future[float]:
        return self.told.setdefault(payment_hash, asyncio.get_running_loop().create_future())

    async def enqueue(self, event_json: str, relays: Sequence[str] = ()) -> int:
        del relays
        tags = json.loads(event_json)["tags"]
        bolt11 = next(tag[1] for tag in tags if tag[0] == "bolt11")
        self.queued[decode_invoice(bolt11).payment_hash] = time.perf_counter()
        return len(self.queued)

    async def session_paid(self, payment_hash: str, amount_msat: int, paid_at: int) -> None:
        del amount_msat, paid_at
        self.expect(payment_hash).set_result(time.perf_counter())


def _config(root: Path, port: int) -> Config:
    create_identity(root / "ids", NewCharger("cp-001", "Bench", 48.1, 11.5), passphrase=None)
    (root / "relays.toml").write_text(
        '[[relay]]\nurl = "ws://127.0.0.1:7777"\n\n'
        f'[service]\npublic_url = "http://127.0.0.1:{port}"\ndata_dir = "data"\n'
        'identities_dir = "ids"\n\n[lightning]\nbackend = "simnode"\nlightning_dir = "ln"\n',
        encoding="utf-8",
    )
    return load_config(root / "relays.toml", env={})


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _callbacks(http: aiohttp.ClientSession, base: str, charger: str) -> dict[str, object]:
    driver = generate_keys()

    async def one() -> tuple[float, str]:
        request = build_zap_request(
            driver,
            recipient_pubkey=charger,
            amount_msat=AMOUNT,
            relays=["wss://relay.example.org"],
            comment=os.urandom(8).hex(),  # each request its own id
            lnurl=None,
            now=int(time.time()),
        )
        started = time.perf_counter()
        params = {"amount": str(AMOUNT), "nostr": request}
        async with http.get(f"{base}/lnurlp/cp-001/callback", params=params) as response:
            answer = await response.json()
        return time.perf_counter() - started, answer["pr"]

    started = time.perf_counter()
    sequential = [await one() for _ in range(SEQUENTIAL)]
    sequential_rate = SEQUENTIAL / (time.perf_counter() - started)

    async def caller() -> list[tuple[float, str]]:
        return [await one() for _ in range(CONCURRENT // CALLERS)]

    started = time.perf_counter()
    batches = await asyncio.gather(*(caller() for _ in range(CALLERS)))
    concurrent_rate = CONCURRENT / (time.perf_counter() - started)
    latencies = [s for s, _ in sequential]
    return {
        "sequential": sequential_rate,
        "concurrent": concurrent_rate,
        "p50": _pct(latencies, 50),
        "p99": _pct(latencies, 99),
        "invoices": [pr for _, pr in sequential] + [pr for b in batches for _, pr in b],
    }


async def _paid(wallet: SimnodeClient, timings: Timings, invoices: list[str]) -> dict[str, float]:
    to_receipt: list[float] = []
    to_session: list[float] = []
    for pr in invoices[:PAID]:
        payment_hash = decode_invoice(pr).payment_hash
        told = timings.expect(payment_hash)
        started = time.perf_counter()
        await wallet.pay_invoice(pr)
        done = await asyncio.wait_for(told, 10)
        to_receipt.append(timings.queued[payment_hash] - started)
        to_session.append(done - started)
    return {
        "receipt_p50": _pct(to_receipt, 50),
        "receipt_p99": _pct(to_receipt, 99),
        "session_p50": _pct(to_session, 50),
        "session_p99": _pct(to_session, 99),
    }


async def _withdraws(
    http: aiohttp.ClientSession, stack: LnurlStack, db: Database, invoices: list[str]
) -> dict[str, float]:
    store = SessionRecords(db)
    links = []
    for pr in invoices[:WITHDRAWS]:
        session = await store.by_payment_hash(decode_invoice(pr).payment_hash)
        assert session is not None
        # What the session layer does with a paid quote that cannot start: full refund.
        await store.apply(session.id, State.QUOTED, Event.INVOICE_PAID, paid_msat=AMOUNT)
        await store.apply(session.id, State.PAID, Event.CHARGER_OFFLINE)
        await store.apply(session.id, State.FAILED_TO_START, Event.REFUND_DUE, refund_msat=AMOUNT)
        link = await stack.refunds.withdraw_link(session.id, AMOUNT)
        assert link is not None
        links.append(link.url)
    latencies = []
    started = time.perf_counter()
    for url in links:
        begun = time.perf_counter()
        async with http.get(url) as response:
            offer = await response.json()
        params = {"k1": offer["k1"], "pr": _driver_invoice(AMOUNT)}
        async with http.get(offer["callback"], params=params) as response:
            assert (await response.json()) == {"status": "OK"}
        latencies.append(time.perf_counter() - begun)
    return {
        "rate": len(links) / (time.perf_counter() - started),
        "p50": _pct(latencies, 50),
        "p99": _pct(latencies, 99),
    }


def _driver_invoice(amount: int) -> str:
    tags = Tags()
    tags.add(TagChar.payment_hash, hashlib.sha256(os.urandom(32)).hexdigest())
    tags.add(TagChar.payment_secret, os.urandom(32).hex())
    tags.add(TagChar.description, "refund")
    tags.add(TagChar.expire_time, 3600)
    invoice = Bolt11("bcrt", int(time.time()), tags, amount_msat=MilliSatoshi(amount))
    return encode(invoice, "22" * 32)


def _pct(samples: list[float], percent: int) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[percent - 1] * 1000


async def run() -> None:
    with tempfile.TemporaryDirectory(prefix="zc-bench-lnurl-") as tmp:
        root, port = Path(tmp), _free_port()
        config = _config(root, port)
        async with running_subprocess(root / "ln") as node:
            backend = ClnBackend(node.rpc_path, wait_timeout_s=2)
            db = await Database.open(root / "bot.sqlite3")
            timings = Timings()
            stack = LnurlStack.build(config, db, backend, outbox=timings, sessions=timings)
            server = HttpServer(ListenAddress("127.0.0.1", port), stack.providers)
            try:
                await register_chargers(config, db)
                # What the OCPP layer writes when the charger connects and reports in.
                chargers = ChargerStore(db)
                await chargers.connected("cp-001", "pubkey", time.time())
                available = ConnectorState(1, "Available", "NoError", None, None, time.time())
                await chargers.set_status("cp-001", available)
                async with asyncio.TaskGroup() as group, aiohttp.ClientSession() as http:
                    tasks = [
                        group.create_task(server.run()),
                        group.create_task(stack.watcher.run()),
                    ]
                    await server.started()
                    charger = config.chargers[0].keys.public_key_hex
                    base = f"http://127.0.0.1:{port}"
                    calls = await _callbacks(http, base, charger)
                    invoices = calls["invoices"]
                    assert isinstance(invoices, list)
                    paid = await _paid(SimnodeClient(root / "ln"), timings, invoices)
                    withdraws = await _withdraws(http, stack, db, invoices)
                    for task in tasks:
                        task.cancel()
            finally:
                await db.close()
    print(
        f"zap callbacks: {calls['sequential']:,.0f}/s one caller "
        f"(p50 {calls['p50']:.1f} ms, p99 {calls['p99']:.1f} ms), "
        f"{calls['concurrent']:,.0f}/s {CALLERS} callers"
    )
    print(
        f"paid -> receipt queued over {PAID} payments: p50 {paid['receipt_p50']:.1f} ms, "
        f"p99 {paid['receipt_p99']:.1f} ms; -> session told p50 {paid['session_p50']:.1f} ms, "
        f"p99 {paid['session_p99']:.1f} ms"
    )
    print(
        f"withdraw link + callback + payment: {withdraws['rate']:,.0f}/s "
        f"(p50 {withdraws['p50']:.1f} ms, p99 {withdraws['p99']:.1f} ms)"
    )
