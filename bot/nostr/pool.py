"""One nostr-sdk Client for every charger identity: relays, sends, fetches, subscriptions.

The client holds no signer (nostr-sdk 0.45): each event arrives here already signed by its
charger. Relays come from ``relays.toml`` with their read/write flags; relays that only a
driver uses (their DM inbox, their zap request's relays) are added on demand as write-only
extras and the least recently used ones are dropped beyond ``max_extra_relays``.

Reconnecting is ours, not the SDK's: nostr-sdk 0.45.1 offers only a fixed retry interval
(``RelayOptions.retry_interval``; ``adjust_retry_interval`` grows it by its own rule), so
its reconnect is turned off (``reconnect(False)``: a dropped relay stays ``TERMINATED``)
and :meth:`RelayPool.run` reconnects each relay with :class:`~bot.backoff.Backoff`
(exponential with jitter and a cap, back to the first delay once a connection held
``stable_s``). Every drop is logged once, with what is known of it: the SDK keeps no close
code or reason, so the line carries the relay's last NOTICE/CLOSED, how long the connection
held and how many events went over it (in all and in the last ``window_s``); a failed
reconnect logs the SDK's error. After a reconnect the REQs are sent again and listeners are
told, so the outbox sends its un-acknowledged rows at once. Sends are paced per relay
(:mod:`bot.nostr.pacing`, ``[[relay]] max_events_per_s``).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, ClassVar

import nostr_sdk

from bot.backoff import Backoff
from bot.config import Config, RelayConfig
from bot.config.keys import ChargerKeys
from bot.errors import NostrError
from bot.nostr.keys import sdk_keys
from bot.nostr.pacing import RelayPacer

__all__ = ["RELAY_BACKOFF", "RelayAnswer", "RelayPool", "Subscription", "normalize_relay_url"]

log = logging.getLogger(__name__)

_CONNECTED = nostr_sdk.RelayStatus.CONNECTED
# Statuses in which the SDK is busy with the connection: no reconnect of ours then.
_UNDER_WAY = (
    nostr_sdk.RelayStatus.INITIALIZED,
    nostr_sdk.RelayStatus.PENDING,
    nostr_sdk.RelayStatus.CONNECTING,
    nostr_sdk.RelayStatus.CONNECTED,
)
# A driver's relay (a zap request's, a DM inbox) gets few events; unknown limits: be modest.
EXTRA_RELAY_EVENTS_PER_S = 20
RELAY_BACKOFF = Backoff(first_s=0.25, cap_s=60.0)


@dataclass(frozen=True)
class RelayAnswer:
    ok: bool
    message: str


def _now() -> float:
    return time.time()


def normalize_relay_url(url: str) -> str:
    """The SDK's spelling of a relay URL, so results and config compare equal."""
    try:
        return str(nostr_sdk.RelayUrl.parse(url.strip()))
    except Exception as exc:  # the SDK raises its own NostrSdkError subclasses
        raise NostrError(f"not a relay URL: {url!r}") from exc


class Subscription:
    """Events of one long-lived REQ, in arrival order; full queues drop (and log) events."""

    def __init__(self, sub_id: str, filters: Sequence[Any], maxsize: int) -> None:
        self.id = sub_id
        self.filters = list(filters)
        self.events: asyncio.Queue[Any] = asyncio.Queue(maxsize)
        self.eose = asyncio.Event()

    def push(self, event: Any) -> None:
        try:
            self.events.put_nowait(event)
        except asyncio.QueueFull:
            log.warning("subscription %s is full; dropped event %s", self.id, event.id().to_hex())

    async def next(self) -> Any:
        """The next ``nostr_sdk.Event``."""
        return await self.events.get()


@dataclass
class _Link:
    """What the pool knows of one relay connection, for its reconnects and its drop's log."""

    successes: int = 0  # the SDK's count of successful connections, as last seen
    up_since: float | None = None
    down_since: float | None = None
    failures: int = 0  # reconnect attempts since the last stable connection
    next_try: float = 0.0
    error: str = ""  # the SDK's error of the last failed attempt
    sent: int = 0  # events sent over the current connection
    # (when, events sent so far) once per poll: the count of the last window_s
    samples: deque[tuple[float, int]] = field(default_factory=deque)


class RelayPool:
    name = "nostr-relays"
    # nostr-sdk keeps the callback event loop in one process-wide variable; this counts
    # the open pools that set it, so that the last one to close clears it.
    _loop_users: ClassVar[int] = 0

    def __init__(
        self,
        relays: Sequence[RelayConfig],
        *,
        auth_keys: ChargerKeys | None = None,
        backoff: Backoff = RELAY_BACKOFF,
        stable_s: float = 10.0,
        window_s: float = 10.0,
        ok_timeout_s: float = 10.0,
        connect_wait_s: float = 3.0,
        max_extra_relays: int = 64,
        poll_interval_s: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self._configured = {normalize_relay_url(r.url): r for r in relays}
        self._auth_keys = auth_keys
        self._backoff = backoff
        self._stable_s = stable_s
        self._window_s = window_s
        self._clock = clock
        self._rng = rng
        self.pacer = RelayPacer(
            {url: r.max_events_per_s for url, r in self._configured.items()},
            EXTRA_RELAY_EVENTS_PER_S,
            clock,
        )
        self._links: dict[str, _Link] = {}
        self._reconnects: dict[str, asyncio.Task[None]] = {}
        self._group: asyncio.TaskGroup | None = None
        self._ok_timeout = timedelta(seconds=ok_timeout_s)
        self._connect_wait_s = connect_wait_s
        self._max_extra = max_extra_relays
        self._poll_interval_s = poll_interval_s
        self._client: Any = None
        self._closed = False
        self._stream: Any = None
        self._start_lock = asyncio.Lock()
        self._add_lock = asyncio.Lock()
        self._relays: dict[str, Any] = {}  # url -> nostr_sdk.Relay, for status checks
        self._writable: set[str] = set()
        self._extras: OrderedDict[str, None] = OrderedDict()  # least recently used first
        self._subs: dict[str, Subscription] = {}
        self._sub_ids = itertools.count(1)
        self._listeners: list[Callable[[str], None]] = []
        # Per-send work that is the same every time, done once: every send of 20,000 status
        # events would otherwise parse the same relay URLs again (a crossing into Rust each).
        self._normal: dict[str, str] = {}
        self._notices: dict[str, str] = {}  # url -> the relay's last NOTICE or CLOSED
        self._targets: dict[tuple[str, ...], Any] = {}

    @classmethod
    def from_config(cls, config: Config, **options: Any) -> RelayPool:
        # NIP-42 is one identity per connection: the first charger signs AUTH for all.
        auth = config.chargers[0].keys if config.chargers else None
        return cls(config.relays, auth_keys=auth, **options)

    @property
    def write_relays(self) -> tuple[str, ...]:
        return tuple(url for url, r in self._configured.items() if r.write)

    @property
    def read_relays(self) -> tuple[str, ...]:
        return tuple(url for url, r in self._configured.items() if r.read)

    def add_reconnect_listener(self, listener: Callable[[str], None]) -> None:
        """Call ``listener(url)`` whenever a relay becomes connected (again)."""
        self._listeners.append(listener)

    def _options(self) -> Any:
        # Our reconnect loop, not the SDK's fixed interval (see the module docstring).
        return nostr_sdk.RelayOptions().reconnect(False)

    async def start(self) -> None:
        """Build the client and start connecting; every other method calls this first."""
        async with self._start_lock:
            if self._client is not None:
                return
            if self._closed:
                # A late send from a service that is shutting down must not open a new
                # client that nobody will close.
                raise NostrError("the relay pool is closed")
            builder = nostr_sdk.ClientBuilder().verify_subscriptions(True)
            if self._auth_keys is not None:
                # The authenticator is a callback from Rust into Python: it needs our loop.
                nostr_sdk.uniffi_set_event_loop(asyncio.get_running_loop())
                RelayPool._loop_users += 1
                signer = nostr_sdk.SignerAuthenticator(sdk_keys(self._auth_keys))
                builder = builder.authenticator(signer)
            client = builder.build()
            # Stored before the first await: if start() is cancelled half-way, close()
            # still shuts the client down (and clears the callback loop).
            self._client = client
            self._stream = client.notifications()
            for url, relay in self._configured.items():
                caps = nostr_sdk.RelayCapabilities.none()
                if relay.read:
                    caps = caps.add(nostr_sdk.RelayCapabilities.read())
                if relay.write:
                    caps = caps.add(nostr_sdk.RelayCapabilities.write())
                    self._writable.add(url)
                parsed = nostr_sdk.RelayUrl.parse(url)
                await client.add_relay(parsed, caps, False, self._options())
                self._relays[url] = await client.relay(parsed)
            # Wait a moment for the first connections: a send to a relay that is still
            # connecting would otherwise be answered "relay not connected".
            await client.connect(timedelta(seconds=self._connect_wait_s))
            log.info("relay pool: %d relay(s) configured", len(self._configured))
            if not self.write_relays:
                log.warning("no write relays configured: events wait in the outbox")

    async def close(self) -> None:
        async with self._start_lock:
            self._closed = True
            client, self._client = self._client, None
            if client is None:
                return
            self._relays.clear()
            self._writable.clear()
            self._extras.clear()
            try:
                await client.shutdown()
                # notes.md: with an authenticator, exiting right after shutdown() could
                # segfault.
                await asyncio.sleep(0.05)
            finally:
                if self._auth_keys is not None:
                    RelayPool._loop_users -= 1
                    if RelayPool._loop_users == 0:
                        # A loop left set would be used by every later SDK call, even
                        # from another event loop (each test has its own).
                        nostr_sdk.uniffi_set_event_loop(None)

    async def run(self) -> None:
        await self.start()
        try:
            async with asyncio.TaskGroup() as group:
                self._group = group  # owns the reconnect attempts
                group.create_task(self._pump(), name="nostr-notifications")
                group.create_task(self._watch_connections(), name="nostr-connections")
        finally:
            self._group = None
            await self.close()

    async def _pump(self) -> None:
        stream = self._stream
        while True:
            item = await stream.next()
            if item is None:  # the client shut down
                return
            if item.is_new_event():
                sub = self._subs.get(item.subscription_id)
                if sub is not None:
                    sub.push(item.event)
            elif item.is_message():
                message = item.message.as_enum()
                if message.is_end_of_stored_events():
                    sub = self._subs.get(message.subscription_id)
                    if sub is not None:
                        sub.eose.set()
                elif message.is_notice() or message.is_closed():
                    self._noted(str(item.relay_url), message)

    def _noted(self, url: str, message: Any) -> None:
        """A relay's NOTICE or CLOSED: the only reasons a relay gives; kept for a drop's log."""
        text = str(message.message)[:200]
        if self._notices.get(url) != text:
            log.warning("relay %s says: %s", url, text)
        self._notices[url] = text

    async def _watch_connections(self) -> None:
        while True:
            for url, relay in list(self._relays.items()):
                await self._look_at(url, relay)
            await asyncio.sleep(self._poll_interval_s)

    async def _look_at(self, url: str, relay: Any) -> None:
        # The count of successful connections, not the status: a relay that restarts
        # between two polls is CONNECTED both times, but its count went up.
        link = self._links.setdefault(url, _Link())
        now = self._clock()
        stats = relay.stats()
        count = stats.success()
        if count > link.successes:
            await self._connected(url, relay, link, now, again=link.successes > 0)
            link.successes = count
        status = relay.status()
        if status == _CONNECTED:
            self._sample(link, now)
            if (
                link.failures
                and link.up_since is not None
                and now - link.up_since >= self._stable_s
            ):
                link.failures = 0  # it held: the next drop starts from the first delay
        elif status not in _UNDER_WAY and url not in self._reconnects:
            if link.down_since is None:
                link.down_since = now
                link.next_try = now + self._backoff.delay(link.failures, self._rng)
                if count:
                    self._log_drop(url, relay, link, now)
            if now >= link.next_try and self._group is not None:
                self._reconnects[url] = self._group.create_task(
                    self._reconnect(url, relay, link), name=f"nostr-reconnect {url}"
                )

    async def _connected(self, url: str, relay: Any, link: _Link, now: float, again: bool) -> None:
        if link.down_since is None:
            log.info("relay %s connected", url)
        else:
            log.warning(
                "relay %s connected again after %.1f s (%d attempt(s))",
                url,
                now - link.down_since,
                link.failures,
            )
        link.down_since, link.up_since, link.error = None, now, ""
        link.sent = 0
        link.samples.clear()
        if again:
            await self._resubscribe(url, relay)
        for listener in self._listeners:
            listener(url)

    async def _reconnect(self, url: str, relay: Any, link: _Link) -> None:
        """One attempt; a failure schedules the next one, ``failures`` delays further on."""
        error = ""
        try:
            await relay.try_connect(timedelta(seconds=self._connect_wait_s))
        except Exception as exc:  # NostrSdkError: refused, timed out, TLS, DNS ...
            error = str(exc)[:200]
        finally:
            self._reconnects.pop(url, None)
        if relay.status() == _CONNECTED:
            return
        link.failures += 1
        delay = self._backoff.delay(link.failures, self._rng)
        link.next_try = self._clock() + delay
        # A relay away for a day must not write a line per attempt: a new error is a
        # warning, the same one again is debug.
        log.log(
            logging.WARNING if error != link.error else logging.DEBUG,
            "relay %s: reconnect attempt %d failed: %s; next in %.2f s",
            url,
            link.failures,
            error or relay.status().name,
            delay,
        )
        link.error = error

    def _sample(self, link: _Link, now: float) -> None:
        link.samples.append((now, link.sent))
        while link.samples and link.samples[0][0] < now - self._window_s:
            link.samples.popleft()

    def _log_drop(self, url: str, relay: Any, link: _Link, now: float) -> None:
        """Say why a relay connection ended, as far as anyone tells: the SDK keeps no close
        code or reason, so this is the relay's last word and what we sent it."""
        up_s = now - link.up_since if link.up_since is not None else 0.0
        recent = link.sent - link.samples[0][1] if link.samples else link.sent
        log.warning(
            "relay %s dropped: status %s after %.1f s connected, %d event(s) sent over the"
            " connection, %d in the last %g s; last notice: %s; reconnecting in %.2f s"
            " (then doubling, at most %g s), events wait in the outbox",
            url,
            relay.status().name,
            up_s,
            link.sent,
            recent,
            self._window_s,
            self._notices.get(url, "none"),
            link.next_try - now,
            self._backoff.cap_s,
        )

    async def _resubscribe(self, url: str, relay: Any) -> None:
        """Send our REQs again after a reconnect.

        Measured with nostr-sdk 0.45.1 and LocalRelay: after a relay restart the SDK did
        not always re-send the REQ, and the subscription went silent for good.
        """
        configured = self._configured.get(url)
        if configured is None or not configured.read:
            return
        for sub in list(self._subs.values()):
            try:
                await relay.unsubscribe(sub.id)
                target = nostr_sdk.ReqTarget.single(nostr_sdk.RelayUrl.parse(url), sub.filters)
                await self._client.subscribe(target, sub.id)
            except Exception as exc:  # NostrSdkError: the relay dropped again; next time
                log.warning("could not renew subscription %s on %s: %s", sub.id, url, exc)

    async def _ensure_writable(self, url: str) -> bool:
        """Add a driver's relay (or give a read-only one write); True if it is new."""
        if url in self._extras:
            self._extras.move_to_end(url)
        if url in self._writable:
            return False
        async with self._add_lock:
            if url in self._writable:  # another send added it meanwhile
                return True
            await self._add_writable(url)
        return True

    async def _add_writable(self, url: str) -> None:
        caps = nostr_sdk.RelayCapabilities.write()
        if url in self._configured:
            caps = caps.add(nostr_sdk.RelayCapabilities.read())
        else:
            self._extras[url] = None
        parsed = nostr_sdk.RelayUrl.parse(url)
        await self._client.add_relay(parsed, caps, True, self._options())
        self._relays[url] = await self._client.relay(parsed)
        self._writable.add(url)
        while len(self._extras) > self._max_extra:
            old, _ = self._extras.popitem(last=False)
            self._writable.discard(old)
            self._relays.pop(old, None)
            self._links.pop(old, None)
            self.pacer.forget(old)
            await self._client.remove_relay(nostr_sdk.RelayUrl.parse(old), True)

    async def _wait_connected(self, urls: Sequence[str]) -> None:
        deadline = asyncio.get_running_loop().time() + self._connect_wait_s
        while asyncio.get_running_loop().time() < deadline:
            if all(self._relays[u].status() == _CONNECTED for u in urls if u in self._relays):
                return
            await asyncio.sleep(0.02)

    def reserve(self, relays: Iterable[str]) -> float:
        """Take a send slot on each relay now (0.0), or say how many seconds until all have
        one; a reserved :meth:`send` (``paced=True``) does not wait again."""
        return self.pacer.reserve(self._normalized(u) for u in relays)

    async def send(
        self, event: Any, relays: Sequence[str], *, paced: bool = False
    ) -> dict[str, RelayAnswer]:
        """Send a signed ``nostr_sdk.Event`` to ``relays``; one answer per relay.

        Waits for a send slot on every relay unless the caller reserved one (``paced``).
        Relays that are not connected answer "relay not connected" at once instead of
        holding the send until the OK timeout.
        """
        await self.start()
        urls = list(dict.fromkeys(self._normalized(u) for u in relays))
        # The next send slot is a point in time, not an event to wait on.
        while not paced and (wait := self.pacer.reserve(urls)) > 0:  # noqa: ASYNC110
            await asyncio.sleep(wait)
        new = [u for u in urls if await self._ensure_writable(u)]
        if new:
            await self._wait_connected(new)
        answers: dict[str, RelayAnswer] = {}
        connected: list[str] = []
        for url in urls:
            relay = self._relays.get(url)
            if relay is not None and relay.status() == _CONNECTED:
                connected.append(url)
            else:
                answers[url] = RelayAnswer(False, "relay not connected")
        if not connected:
            return answers
        for url in connected:
            link = self._links.get(url)
            if link is not None:
                link.sent += 1
        try:
            target = self._target(tuple(connected))
            output = await self._client.send_event(event, target, None, self._ok_timeout)
        except Exception as exc:  # NostrSdkError: the whole send failed locally
            for url in connected:
                answers[url] = RelayAnswer(False, f"error: {exc}")
            return answers
        for url in output.success:
            answers[str(url)] = RelayAnswer(True, "")
        for url, message in output.failed.items():
            answers[str(url)] = RelayAnswer(False, str(message))
        return answers

    def _normalized(self, url: str) -> str:
        normal = self._normal.get(url)
        if normal is None:
            normal = normalize_relay_url(url)
            if len(self._normal) < 10_000:  # strangers' relays must not grow it without end
                self._normal[url] = normal
        return normal

    def _target(self, urls: tuple[str, ...]) -> Any:
        target = self._targets.get(urls)
        if target is None:
            target = nostr_sdk.SendEventTarget.to([nostr_sdk.RelayUrl.parse(u) for u in urls])
            if len(self._targets) < 1_000:
                self._targets[urls] = target
        return target

    async def fetch(self, filters: Sequence[Any], timeout_s: float = 3.0) -> list[Any]:
        """Stored events matching ``filters`` from the read relays, until EOSE or timeout."""
        await self.start()
        if not self.read_relays:
            return []
        try:
            target = nostr_sdk.ReqTarget.auto(list(filters))
            return list(await self._client.fetch_events(target, timedelta(seconds=timeout_s)))
        except Exception as exc:  # NostrSdkError: no relay could be asked
            log.warning("fetch failed: %s", exc)
            return []

    async def held_by(
        self, url: str, kinds: Sequence[int], authors: Sequence[str], timeout_s: float = 10.0
    ) -> set[tuple[int, str]] | None:
        """The (kind, author) pairs of replaceable events one relay holds; None if it could
        not be asked. ``authors`` are asked 100 at a time: relays cap a query's answer
        (LocalRelay at 500 events)."""
        await self.start()
        held: set[tuple[int, str]] = set()
        relay = self._relays.get(self._normalized(url))
        if relay is None:
            return None
        for first in range(0, len(authors), 100):
            chunk = [nostr_sdk.PublicKey.parse(a) for a in authors[first : first + 100]]
            query = (
                nostr_sdk.Filter()
                .kinds([nostr_sdk.Kind(k) for k in kinds])
                .authors(chunk)
                .limit(len(chunk) * len(kinds))
            )
            try:
                events = await relay.fetch_events(query, timedelta(seconds=timeout_s))
            except Exception as exc:  # NostrSdkError: the relay is not there
                log.info("could not ask %s what it holds: %s", url, exc)
                return None
            held.update((e.kind().as_u16(), e.author().to_hex()) for e in events)
            await asyncio.sleep(0)  # 10,000 chargers are 100 queries: let OCPP in between
        return held

    async def subscribe(
        self, filters: Sequence[Any], *, eose_timeout_s: float = 5.0, maxsize: int = 10_000
    ) -> Subscription:
        """A long-lived REQ on the read relays; returns after the first EOSE (or timeout).

        Waiting for EOSE matters: ``subscribe()`` returns before the REQ reaches a relay.
        The SDK re-sends the REQ after each reconnect.
        """
        await self.start()
        sub = Subscription(f"zc-{next(self._sub_ids)}", filters, maxsize)
        self._subs[sub.id] = sub
        if not self.read_relays:
            log.warning("no read relays: subscription %s receives nothing", sub.id)
            return sub
        try:
            await self._client.subscribe(nostr_sdk.ReqTarget.auto(list(filters)), sub.id)
        except Exception as exc:  # NostrSdkError
            raise NostrError(f"cannot subscribe: {exc}") from exc
        with suppress(TimeoutError):
            async with asyncio.timeout(eose_timeout_s):
                await sub.eose.wait()
        return sub

    async def unsubscribe(self, sub: Subscription) -> None:
        self._subs.pop(sub.id, None)
        if self._client is not None:
            with suppress(Exception):  # the relays may be gone already
                await self._client.unsubscribe(sub.id)
