"""NIP-01 over one websocket: publish and wait for OK, subscribe and wait for EOSE, read events.

A thin pump for Nostr Wallet Connect, which talks to one or a few relays of the wallet's
own, apart from the charger relays: events are plain dicts (``bot.nostr.primitives`` signs
and verifies them), frames are JSON. :meth:`RelayLink.pump` is the only reader; the owner
runs it as a task beside the code that publishes and reads (:meth:`next_event`).

Frames go out with ``ensure_ascii=True``: a lone surrogate from someone's JSON would make
websockets' strict UTF-8 encoding fail inside ``send`` and drop the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import socket
from collections.abc import Mapping
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from bot.errors import NostrError

__all__ = ["RelayLink"]

log = logging.getLogger(__name__)

_MAX_QUEUED_EVENTS = 10_000


def _ack_now(sock: socket.socket | None) -> None:
    """Acknowledge what arrived at once instead of up to 40 ms later (Linux only).

    Measured here against nostr-sdk's LocalRelay: a request's OK and then its response go
    to the requester as two small writes; the relay's socket holds the second until the
    first is acknowledged (Nagle), and ours delays that ACK (delayed ACK), so every round
    trip took ~45 ms (22/s). Asking for a quick ACK after each frame (the kernel's
    quick-ACK mode does not last) made it ~1.5 ms (685/s).
    """
    if sock is not None and hasattr(socket, "TCP_QUICKACK"):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)


class RelayLink:
    def __init__(self, connection: ClientConnection, *, ok_timeout: float = 10.0) -> None:
        self.connection = connection
        self.ok_timeout = ok_timeout
        self._oks: dict[str, asyncio.Future[tuple[bool, str]]] = {}
        self._eoses: dict[str, asyncio.Future[None]] = {}
        self._queries: dict[str, list[dict[str, Any]]] = {}
        self._events: asyncio.Queue[tuple[str, dict[str, Any]] | None] = asyncio.Queue(
            _MAX_QUEUED_EVENTS
        )
        self._ids = itertools.count(1)
        self._closed = False

    async def pump(self) -> None:
        """Read frames until the connection closes; then every waiter learns it."""
        try:
            sock = self.connection.transport.get_extra_info("socket")
            async for frame in self.connection:
                _ack_now(sock)
                self._dispatch(frame)
        except ConnectionClosed:
            pass
        finally:
            self._close_waiters()

    async def publish(self, event: Mapping[str, Any]) -> None:
        """Send ``event`` and wait for the relay's OK; NostrError if refused or not answered."""
        event_id = str(event["id"])
        future = asyncio.get_running_loop().create_future()
        self._oks[event_id] = future
        try:
            await self.send(event)
            accepted, message = await asyncio.wait_for(future, self.ok_timeout)
        except TimeoutError:
            raise NostrError(f"relay did not answer OK for {event_id[:12]}") from None
        finally:
            self._oks.pop(event_id, None)
        if not accepted:
            raise NostrError(f"relay refused event {event_id[:12]}: {message}")

    async def send(self, event: Mapping[str, Any]) -> None:
        """Send ``event`` without waiting for OK (a refusal is logged)."""
        await self._send(["EVENT", dict(event)])

    async def subscribe(self, filters: list[dict[str, Any]], sub_id: str | None = None) -> str:
        """REQ and wait for EOSE: from then on live events arrive through next_event."""
        sub_id = sub_id or f"nwc-{next(self._ids)}"
        await self._request(sub_id, filters)
        return sub_id

    async def query(self, filters: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The stored events matching ``filters`` (REQ until EOSE, then CLOSE)."""
        sub_id = f"query-{next(self._ids)}"
        self._queries[sub_id] = []
        try:
            await self._request(sub_id, filters)
            await self._send(["CLOSE", sub_id])
            return self._queries[sub_id]
        finally:
            self._queries.pop(sub_id, None)

    async def next_event(self) -> tuple[str, dict[str, Any]]:
        """(subscription id, event) of the next live event; NostrError once the link is gone."""
        item = await self._events.get()
        if item is None:
            self._events.put_nowait(None)  # every later reader learns it too
            raise NostrError("relay connection closed")
        return item

    async def close(self) -> None:
        await self.connection.close()

    async def _request(self, sub_id: str, filters: list[dict[str, Any]]) -> None:
        future = asyncio.get_running_loop().create_future()
        self._eoses[sub_id] = future
        try:
            await self._send(["REQ", sub_id, *filters])
            await asyncio.wait_for(future, self.ok_timeout)
        except TimeoutError:
            raise NostrError(f"relay sent no EOSE for {sub_id}") from None
        finally:
            self._eoses.pop(sub_id, None)

    async def _send(self, frame: list[Any]) -> None:
        if self._closed:
            raise NostrError("relay connection closed")
        try:
            await self.connection.send(json.dumps(frame, ensure_ascii=True))
        except ConnectionClosed as exc:
            raise NostrError(f"relay connection closed: {exc}") from exc

    def _dispatch(self, frame: str | bytes) -> None:
        try:
            message = json.loads(frame)
        except ValueError:
            log.warning("relay sent a frame that is not JSON")
            return
        if not isinstance(message, list) or not message:
            return
        kind = message[0]
        if kind == "EVENT" and len(message) == 3 and isinstance(message[2], dict):
            self._event(str(message[1]), message[2])
        elif kind == "OK" and len(message) >= 3:
            reason = str(message[3]) if len(message) > 3 else ""
            self._ok(str(message[1]), message[2] is True, reason)
        elif kind == "EOSE" and len(message) >= 2:
            future = self._eoses.get(str(message[1]))
            if future is not None and not future.done():
                future.set_result(None)
        elif kind in ("CLOSED", "NOTICE"):
            log.warning("relay says %s", message[1:])

    def _event(self, sub_id: str, event: dict[str, Any]) -> None:
        stored = self._queries.get(sub_id)
        if stored is not None:
            stored.append(event)
        elif self._events.full():
            log.warning("dropping an event: %d unread", self._events.qsize())
        else:
            self._events.put_nowait((sub_id, event))

    def _ok(self, event_id: str, accepted: bool, message: str) -> None:
        future = self._oks.get(event_id)
        if future is not None and not future.done():
            future.set_result((accepted, message))
        elif not accepted:
            log.warning("relay refused event %s: %s", event_id[:12], message)

    def _close_waiters(self) -> None:
        self._closed = True
        waiters: list[asyncio.Future[Any]] = [*self._oks.values(), *self._eoses.values()]
        for waiter in waiters:
            if not waiter.done():
                waiter.set_exception(NostrError("relay connection closed"))
        if self._events.full():
            self._events.get_nowait()
        self._events.put_nowait(None)
