"""nostr-sdk's embedded relay on 127.0.0.1, for tests and ``zapcharge demo``.

``async with local_relay() as url:`` runs a relay for the block; ``url`` is its
``ws://127.0.0.1:<port>``. For outage tests, :class:`LocalRelay` can :meth:`~LocalRelay.stop`
and :meth:`~LocalRelay.start` again on the same port (with an empty store).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import nostr_sdk

__all__ = ["LocalRelay", "free_port", "local_relay"]

# The default rate limit answers bursts with "rate-limited: slow down"; a test or demo
# relay must take a whole outbox flush at once.
_MAX_REQS = 1_000
_NOTES_PER_MINUTE = 10_000_000
_BIND_ATTEMPTS = 100  # 5 s


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now (the relay reports port 0 if given 0)."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


class LocalRelay:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, auth: bool = False) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.auth = auth
        self._relay: Any = None
        self._stopped: Any = None  # the last relay stopped, until its port is free again

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._relay is not None

    async def start(self) -> None:
        if self._relay is not None:
            return
        builder = (
            nostr_sdk.LocalRelayBuilder()
            .addr(self.host)
            .port(self.port)
            .rate_limit(nostr_sdk.RateLimit(max_reqs=_MAX_REQS, notes_per_minute=_NOTES_PER_MINUTE))
            .max_filter_limit(5_000)
        )
        if self.auth:
            mode = nostr_sdk.LocalRelayBuilderNip42Mode.BOTH
            builder = builder.nip42(nostr_sdk.LocalRelayBuilderNip42(mode=mode))
        # shutdown() returns before the old listener is closed: retry the bind briefly.
        for attempt in range(_BIND_ATTEMPTS):
            relay = builder.build()
            try:
                await relay.run()
            except Exception as exc:  # NostrSdkError: "Address already in use"
                if "in use" not in str(exc) or attempt == _BIND_ATTEMPTS - 1:
                    raise
                # A shutdown() that came right after run() can be missed by the relay's
                # accept loop (seen here: the old port stayed bound); asking again frees it.
                if self._stopped is not None:
                    self._stopped.shutdown()
                await asyncio.sleep(0.05)
                continue
            self._relay, self._stopped = relay, None
            return

    def stop(self) -> None:
        relay, self._relay = self._relay, None
        if relay is not None:
            relay.shutdown()
            self._stopped = relay


@asynccontextmanager
async def local_relay(host: str = "127.0.0.1", *, auth: bool = False) -> AsyncIterator[str]:
    """A running relay for the block; yields its URL. ``auth``: NIP-42 for reads and writes."""
    relay = LocalRelay(host, auth=auth)
    await relay.start()
    try:
        yield relay.url
    finally:
        relay.stop()
