"""A NIP-47 client on the wallet service's own relays: a thin pump around :class:`Exchange`.

The wallet's relays are not the chargers' relays: the client has a
:class:`~bot.nostr.pool.RelayPool` of its own (one nostr-sdk Client), which reconnects by
itself and renews our subscription after a relay restart. One subscription carries both
responses (23195) and notifications (23196/23197) from the wallet's key to ours.

:meth:`NwcClient.call` returns the wallet's :class:`Response`, or a :class:`NoAnswer` that
says whether the request surely never reached a relay (``delivered=False``: nothing can
have happened) or may have (``delivered=True``: a timeout or a lost response, *unknown*,
never a failure). The caller decides what that means per method (a payment stays
pending).

The pump runs in one task that the client owns: started by :meth:`start`, cancelled and
awaited by :meth:`close`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import nostr_sdk

from bot.backoff import Backoff
from bot.config import NwcUri, RelayConfig
from bot.errors import LightningUnavailable, NwcProtocolError
from bot.lightning.nwc.exchange import Answer, Dropped, Exchange, Notice
from bot.lightning.nwc.protocol import (
    INFO_KIND,
    NOTIFICATION_KIND_NIP04,
    NOTIFICATION_KIND_NIP44,
    RESPONSE_KIND,
    Encryption,
    Notification,
    Request,
    Response,
    WalletInfo,
    choose_encryption,
    parse_info,
)
from bot.nostr.pool import RELAY_BACKOFF, RelayPool, Subscription
from bot.nostr.primitives import verify_event

__all__ = ["NoAnswer", "NwcClient", "Outcome"]

log = logging.getLogger(__name__)

_NOT_CONNECTED = "relay not connected"


@dataclass(frozen=True)
class NoAnswer:
    """No response: ``delivered`` False means no relay took the request."""

    method: str
    delivered: bool
    reason: str


Outcome = Response | NoAnswer


class NwcClient:
    def __init__(
        self,
        uri: NwcUri,
        *,
        clock: Callable[[], float] = time.time,
        info_timeout_s: float = 5.0,
        connect_wait_s: float = 3.0,
        backoff: Backoff = RELAY_BACKOFF,
    ) -> None:
        self.uri = uri
        self._clock = clock
        self._info_timeout_s = info_timeout_s
        self._pool = RelayPool(
            [RelayConfig(url) for url in uri.relays],
            backoff=backoff,
            connect_wait_s=connect_wait_s,
            poll_interval_s=0.2,
        )
        self.exchange = Exchange(uri.secret, uri.wallet_pubkey, clock=clock)
        self.info: WalletInfo | None = None
        self.notifications: asyncio.Queue[Notification] = asyncio.Queue(10_000)
        # Set whenever a wallet relay is connected again: what was sent meanwhile is lost.
        self.reconnected = asyncio.Event()
        self._waiting: dict[str, asyncio.Future[Response]] = {}
        self._task: asyncio.Task[None] | None = None
        self._task_reader: asyncio.Task[None] | None = None
        self._sub: Subscription | None = None
        self._lock = asyncio.Lock()

    @property
    def client_pubkey(self) -> str:
        return self.exchange.client_pubkey

    async def start(self) -> WalletInfo:
        """Connect, subscribe, read the info event; LightningUnavailable when there is none."""
        async with self._lock:
            if self.info is not None:
                return self.info
            if self._task is None:
                await self._pool.start()
                self._pool.add_reconnect_listener(lambda _url: self.reconnected.set())
                self._task = asyncio.create_task(self._pool.run(), name="nwc-relays")
                self._sub = await self._pool.subscribe([self._filter()], eose_timeout_s=3.0)
                self._task_reader = asyncio.create_task(self._read(self._sub), name="nwc-read")
            self.info = await self._fetch_info()
            self.exchange.encryption = choose_encryption(self.info)
            log.info(
                "nwc wallet %s: %d method(s), notifications %s, encryption %s",
                self.uri.wallet_pubkey[:12],
                len(self.info.methods),
                " ".join(sorted(self.info.notifications)) or "none",
                self.exchange.encryption.value,
            )
            return self.info

    def _filter(self) -> Any:
        kinds = (RESPONSE_KIND, NOTIFICATION_KIND_NIP04, NOTIFICATION_KIND_NIP44)
        return (
            nostr_sdk.Filter()
            .kinds([nostr_sdk.Kind(k) for k in kinds])
            .author(nostr_sdk.PublicKey.parse(self.uri.wallet_pubkey))
            .pubkey(nostr_sdk.PublicKey.parse(self.client_pubkey))
            # Responses are ephemeral; notifications a relay kept are de-duplicated anyway.
            .since(nostr_sdk.Timestamp.from_secs(int(self._clock()) - 60))
        )

    async def _fetch_info(self) -> WalletInfo:
        query = (
            nostr_sdk.Filter()
            .kind(nostr_sdk.Kind(INFO_KIND))
            .author(nostr_sdk.PublicKey.parse(self.uri.wallet_pubkey))
            .limit(5)
        )
        events = [
            json.loads(e.as_json()) for e in await self._pool.fetch([query], self._info_timeout_s)
        ]
        valid = [e for e in events if e.get("pubkey") == self.uri.wallet_pubkey and verify_event(e)]
        if not valid:
            raise LightningUnavailable(
                f"the NWC wallet {self.uri.wallet_pubkey[:12]}… does not answer: no info event"
                f" (kind {INFO_KIND}) on {', '.join(self.uri.relays)} within"
                f" {self._info_timeout_s:g} s"
            )
        newest = max(valid, key=lambda e: int(e["created_at"]))
        return parse_info(newest["content"], newest["tags"])

    async def refresh_info(self) -> WalletInfo:
        """Read the info event again (after the wallet came back: it may have changed)."""
        info = await self._fetch_info()
        self.info = info
        self.exchange.encryption = choose_encryption(info)
        return info

    async def _read(self, sub: Subscription) -> None:
        while True:
            event = await sub.next()
            try:
                self._deliver(json.loads(event.as_json()))
            except NwcProtocolError as exc:
                log.warning("nwc: dropped an event from the wallet: %s", exc)

    def _deliver(self, event: dict[str, Any]) -> None:
        incoming = self.exchange.receive(event)
        if isinstance(incoming, Answer):
            future = self._waiting.pop(incoming.request_id, None)
            if future is not None and not future.done():
                future.set_result(incoming.response)
        elif isinstance(incoming, Notice):
            try:
                self.notifications.put_nowait(incoming.notification)
            except asyncio.QueueFull:  # polling finds what this loses
                log.warning("nwc: notification queue full; dropped %s", incoming.event_id)
        elif isinstance(incoming, Dropped):
            log.debug("nwc: dropped event %s: %s", event.get("id"), incoming.reason)

    async def call(self, method: str, params: dict[str, Any], *, timeout_s: float) -> Outcome:
        """Send one request and wait for its response (see the module docstring)."""
        await self.start()
        event = self.exchange.request_event(Request(method, params), expires_in_s=timeout_s)
        request_id = str(event["id"])
        future: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = future
        try:
            answers = await self._pool.send(
                nostr_sdk.Event.from_json(json.dumps(event)), self.uri.relays
            )
            if answers and all(a.message == _NOT_CONNECTED for a in answers.values()):
                return NoAnswer(method, delivered=False, reason="no wallet relay is connected")
            try:
                async with asyncio.timeout(timeout_s):
                    return await future
            except TimeoutError:
                refused = "; ".join(f"{u}: {a.message}" for u, a in answers.items() if not a.ok)
                reason = f"no response within {timeout_s:g} s" + (
                    f" (relays said: {refused})" if refused else ""
                )
                return NoAnswer(method, delivered=True, reason=reason)
        finally:
            self._waiting.pop(request_id, None)
            self.exchange.close(request_id)

    @property
    def encryption(self) -> Encryption:
        return self.exchange.encryption

    async def close(self) -> None:
        for task in (self._task_reader, self._task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        await self._pool.close()
