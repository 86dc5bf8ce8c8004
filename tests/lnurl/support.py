"""A running pay site for tests: config, store, simulated node, HTTP server on 127.0.0.1.

Everything is real: the SQLite file, the simulated node behind Core Lightning's JSON-RPC
(through ClnBackend and pyln-client), the aiohttp server on an ephemeral port, the
payment watcher. Only the session layer is a small recording stand-in for its one port.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bot.app import register_chargers
from bot.backoff import Backoff
from bot.config import Config, ListenAddress, load_config
from bot.lightning.cln import ClnBackend
from bot.lightning.simnode import SimnodeClient, serve_in_process
from bot.lnurl.checkout import Checkout, PaySite
from bot.lnurl.pay import PayEndpoints
from bot.lnurl.payments import ZapPayments
from bot.lnurl.refunds import Refunds
from bot.lnurl.server import HttpServer
from bot.lnurl.watcher import PaymentWatcher
from bot.lnurl.withdraw_http import WithdrawEndpoints
from bot.nostr.outbox import Outbox
from bot.nostr.pool import RelayPool
from bot.nostr.relay import local_relay
from bot.ports.lightning import LightningBackend
from bot.sessions.machine import Event
from bot.sessions.record import Session
from bot.sessions.records import SessionRecords
from bot.sessions.tariff import Quote
from bot.store.chargers import ChargerStore, ConnectorState
from bot.store.db import Database
from bot.store.outbox import OutboxStore
from tests.helpers import scaled, write_config
from tests.lightning.nwc.backing import nwc_backend
from tests.lnurl.invoices import issue_invoice

__all__ = [
    "REFUND",
    "Clock",
    "RecordingOutbox",
    "RecordingRefundEvents",
    "RecordingSessions",
    "Site",
    "move_session",
    "pay_site",
    "receipts_flowing",
    "refunding_session",
    "set_charger",
]

REFUND = 5_000_000  # what refunding_session owes: its whole payment
FAST_BACKOFF = Backoff(first_s=0.01, cap_s=0.05, give_up_after_s=0.3)


class Clock:
    """Wall-clock time plus an offset a test can move forward."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@dataclass
class RecordingSessions:
    """The session layer's ``SessionPayments`` port, recording what it is told."""

    paid: list[tuple[str, int, int]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def session_paid(self, payment_hash: str, amount_msat: int, paid_at: int) -> None:
        self.paid.append((payment_hash, amount_msat, paid_at))
        self.changed.set()

    async def wait_for(self, count: int) -> None:
        while len(self.paid) < count:
            self.changed.clear()
            await asyncio.wait_for(self.changed.wait(), scaled(5))


@dataclass
class RecordingOutbox:
    """Stands in for the nostr outbox where no relay is needed (one row per event id)."""

    events: dict[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)

    async def enqueue(self, event_json: str, relays: Sequence[str] = ()) -> int:
        event_id = json.loads(event_json)["id"]
        self.events.setdefault(event_id, (event_json, tuple(relays)))
        return len(self.events)


@dataclass
class RecordingRefundEvents:
    settled: list[tuple[str, bool, str]] = field(default_factory=list)

    async def refund_settled(self, session_id: str, *, paid: bool, detail: str) -> None:
        self.settled.append((session_id, paid, detail))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Site:
    config: Config
    db: Database
    backend: LightningBackend
    wallet: SimnodeClient
    ln_dir: Path
    base: str  # http://127.0.0.1:<port>
    http: aiohttp.ClientSession
    checkout: Checkout
    refunds: Refunds
    sessions: RecordingSessions
    refund_events: RecordingRefundEvents
    clock: Clock

    @property
    def domain(self) -> str:
        return self.config.service.domain

    async def get(self, path_or_url: str, **params: str) -> Any:
        url = path_or_url if path_or_url.startswith("http") else self.base + path_or_url
        async with self.http.get(url, params=params or None) as response:
            assert response.headers.get("Access-Control-Allow-Origin") == "*"
            return await response.json()

    async def watch_payments(self, outbox: Any) -> PaymentWatcher:
        """A watcher feeding ZapPayments; the caller runs it."""
        handler = ZapPayments(
            {c.id: c for c in self.config.chargers},
            self.db,
            outbox,
            self.sessions,
            allow_loopback=True,
            clock=self.clock,
        )
        return PaymentWatcher(self.backend, self.db, handler)


async def set_charger(
    db: Database, charger_id: str, *, online: bool = True, statuses: dict[int, str] | None = None
) -> None:
    """What the OCPP layer writes when a charger connects (or drops) and reports in."""
    store = ChargerStore(db)
    if online:
        await store.connected(charger_id, "pubkey", time.time())
    else:
        await store.disconnected(charger_id, time.time())
    for connector_id, status in (statuses or {1: "Available"}).items():
        state = ConnectorState(connector_id, status, "NoError", None, None, time.time())
        await store.set_status(charger_id, state)


async def move_session(sessions: SessionRecords, session: Session, *steps: Event) -> Session:
    """Walk a session through ``steps`` (paid with its quote amount when invoice_paid)."""
    current = session
    for event in steps:
        fields: dict[str, Any] = {}
        if event is Event.INVOICE_PAID:
            fields["paid_msat"] = REFUND
        if event is Event.REFUND_DUE:
            fields["refund_msat"] = current.paid_msat
        moved = await sessions.apply(current.id, current.state, event, **fields)
        assert moved is not None
        current = moved
    return current


async def refunding_session(site: Site, name: str = "ph-1") -> str:
    """A session that failed to start and now owes REFUND back."""
    sessions = SessionRecords(site.db)
    session = await sessions.create(
        "cp-001", 1, Quote(0, 250_000), payer_pubkey=None, payment_hash=name
    )
    moved = await move_session(
        sessions, session, Event.INVOICE_PAID, Event.CHARGER_OFFLINE, Event.REFUND_DUE
    )
    assert moved.refund_msat == REFUND
    return moved.id


@asynccontextmanager
async def receipts_flowing(site: Site) -> AsyncIterator[Outbox]:
    """The real nostr outbox on the site's relays, and the payment watcher feeding it."""
    pool = RelayPool(site.config.relays)
    outbox = Outbox(OutboxStore(site.db), pool, base_delay_s=0.05)
    watcher = await site.watch_payments(outbox)
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(s.run()) for s in (pool, outbox, watcher)]
            try:
                yield outbox
            finally:
                for task in tasks:
                    task.cancel()
    finally:
        await pool.close()


@asynccontextmanager
async def pay_site(
    tmp_path: Path,
    *,
    relay_url: str = "ws://127.0.0.1:7777",
    chargers: tuple[str, ...] = ("cp-001",),
    connectors: int = 1,
    available: bool = True,
    preset: bool = True,
    configure: Callable[[Path], None] | None = None,
    ln_kind: str = "cln",
) -> AsyncIterator[Site]:
    """``ln_kind`` "nwc": the bot's backend is NWC, on the same node's wallet service."""
    port = _free_port()
    path = write_config(tmp_path, chargers=chargers)
    text = path.read_text(encoding="utf-8")
    text = text.replace("ws://127.0.0.1:7777", relay_url)
    text = text.replace("https://charge.example.org", f"http://127.0.0.1:{port}")
    path.write_text(text, encoding="utf-8")
    for charger_id in chargers:
        identity = tmp_path / "identities" / f"{charger_id}.toml"
        extra = "".join(
            f'\n[[connector]]\nid = {n}\ntype = "CCS2"\nmax_power_w = 50000\n'
            for n in range(2, connectors + 1)
        )
        identity.write_text(identity.read_text(encoding="utf-8") + extra, encoding="utf-8")
    if configure is not None:
        configure(tmp_path)
    config = load_config(path, env={})
    ln_dir = tmp_path / "ln"
    clock = Clock()
    async with (
        serve_in_process(ln_dir) as node,
        await Database.open(tmp_path / "z.sqlite3") as db,
        AsyncExitStack() as stack,
    ):
        await register_chargers(config, db)
        for charger in config.chargers if preset else ():
            statuses = {c.id: "Available" for c in charger.connectors}
            await set_charger(db, charger.id, online=available, statuses=statuses)
        backend: LightningBackend = ClnBackend(
            node.rpc_path, wait_timeout_s=1, backoff=FAST_BACKOFF
        )
        if ln_kind == "nwc":
            nwc_relay = await stack.enter_async_context(local_relay())
            backend, _ = await stack.enter_async_context(nwc_backend(node, nwc_relay, db))
        site_config = PaySite.from_config(config)
        checkout = Checkout(site_config, db, backend, clock=clock)
        events = RecordingRefundEvents()
        refunds = Refunds(
            db,
            backend,
            urls=site_config.urls,
            currency="bcrt",
            settings=config.sessions,
            events=events,
            allow_loopback=True,
            clock=clock,
        )
        server = HttpServer(
            ListenAddress("127.0.0.1", port), [PayEndpoints(checkout), WithdrawEndpoints(refunds)]
        )
        task = asyncio.create_task(server.run())
        try:
            await asyncio.wait_for(server.started(), scaled(5))
            async with aiohttp.ClientSession() as http:
                yield Site(
                    config=config,
                    db=db,
                    backend=backend,
                    wallet=SimnodeClient(ln_dir),
                    ln_dir=ln_dir,
                    base=f"http://127.0.0.1:{port}",
                    http=http,
                    checkout=checkout,
                    refunds=refunds,
                    sessions=RecordingSessions(),
                    refund_events=events,
                    clock=clock,
                )
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


DRIVER_NODE = "33" * 32
METADATA = json.dumps([["text/plain", "Alice's wallet"], ["text/identifier", "alice@x"]])


@dataclass
class DriverWallet:
    """The driver's LNURL-pay server: a RouteProvider with knobs for misbehaviour."""

    amount_offset: int = 0
    metadata_served: str = METADATA
    metadata_hashed: str = METADATA
    min_sendable: int = 1000
    refuse: str | None = None
    issued: list[str] = field(default_factory=list)

    def routes(self) -> Sequence[web.RouteDef]:
        return [
            web.get("/.well-known/lnurlp/alice", self._pay_request),
            web.get("/cb", self._callback),
        ]

    async def _pay_request(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "tag": "payRequest",
                "callback": f"http://{request.host}/cb",
                "minSendable": self.min_sendable,
                "maxSendable": 100_000_000_000,
                "metadata": self.metadata_served,
                "commentAllowed": 50,
            }
        )

    async def _callback(self, request: web.Request) -> web.Response:
        if self.refuse is not None:
            return web.json_response({"status": "ERROR", "reason": self.refuse})
        amount = int(request.query["amount"]) + self.amount_offset
        pr, _ = issue_invoice(
            amount,
            description_hash=hashlib.sha256(self.metadata_hashed.encode()).hexdigest(),
            created_at=int(time.time()),
            node_key=DRIVER_NODE,
        )
        self.issued.append(pr)
        return web.json_response({"pr": pr, "routes": []})
