"""A SIMULATED Nostr Wallet Connect (NIP-47) wallet service on the simulated node's ledger.

For tests and ``zapcharge demo`` only: it moves no real money and says so when it starts.
``zapcharge simnode --nwc FILE --nwc-relay URL`` runs it inside the simulated node's
process; tests build :class:`SimWallet` themselves and run :meth:`SimWallet.run` as a task.

What it does, as a real wallet service would: publishes its info event (kind 13194),
answers requests (23194) addressed to it with responses (23195, ``p`` = client,
``e`` = request) encrypted as the request was (an ``encryption`` tag names NIP-44 v2; none
means NIP-04), and notifies its client (23197 NIP-44 and 23196 NIP-04) when the ledger
settles an invoice or a payment. The methods themselves are in ``simledger.py``.
It serves one client: the key in the connection URI it writes (:func:`prepare_connection`).

Test-only faults (:class:`WalletFaults`, changeable while it runs, also over the node's
JSON-RPC as ``dev-simnode-nwc-faults``; see :meth:`SimWallet.set_faults`):

- ``nip04_only``: an older wallet. Its info event has no ``encryption`` tag, NIP-44 requests
  get ``UNSUPPORTED_ENCRYPTION`` (in NIP-04), notifications are kind 23196 only.
- ``no_notifications``: no ``notifications`` tag or method, and no notification is sent.
- ``drop_notifications``: the next N notifications are not sent, though advertised.
- ``duplicate_notifications``: every notification event is sent twice (two event ids).
- ``drop_responses``: ``{method: N}``: the next N requests of ``method`` are carried out
  but not answered (a lost response).
- ``without_methods``: methods left out of the info event and answered ``NOT_IMPLEMENTED``.
- ``online``: false takes the wallet off its relay (wallet down): no info, no answers,
  settlements in that time are never notified; true brings it back.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidHandshake, InvalidURI

from bot.errors import NostrError, NwcProtocolError
from bot.lightning.nwc.protocol import (
    INFO_KIND,
    NOTIFICATION_KIND_NIP04,
    NOTIFICATION_KIND_NIP44,
    REQUEST_KIND,
    RESPONSE_KIND,
    Encryption,
    ErrorCode,
    Notification,
    Response,
    decode_request,
    encode_notification,
    encode_response,
    encryption_of_request,
    format_uri,
    info_content,
    info_tags,
    transaction_json,
)
from bot.lightning.nwc.relay_link import RelayLink
from bot.lightning.nwc.simledger import METHODS, NOTIFICATIONS, LedgerMethods
from bot.lightning.simnode.node import SimNode
from bot.lightning.simnode.state import SimState
from bot.nostr.primitives import decrypt, encrypt, public_key_hex, sign_event, verify_event

__all__ = [
    "READY_LINE",
    "SimWallet",
    "WalletFaults",
    "WalletOptions",
    "build_wallet",
    "fault_words",
    "parse_faults",
    "prepare_connection",
    "write_uri_file",
]

log = logging.getLogger(__name__)

WALLET_KEY_NAME = "nwc.wallet_key"  # names of rows in the node's state, not secrets
CLIENT_SECRET_NAME = "nwc.client_secret"  # noqa: S105 -- a row name
_BACKOFF_FIRST_S, _BACKOFF_MAX_S = 0.1, 2.0
_SETTLEMENTS_QUEUED = 10_000


@dataclass(frozen=True)
class WalletFaults:
    """Test-only switches of the simulated wallet (see the module docstring)."""

    nip04_only: bool = False
    no_notifications: bool = False
    duplicate_notifications: bool = False
    drop_notifications: int = 0
    drop_responses: Mapping[str, int] = field(default_factory=dict)
    without_methods: frozenset[str] = frozenset()
    online: bool = True


@dataclass(frozen=True)
class WalletOptions:
    """``zapcharge simnode --nwc FILE --nwc-relay URL [--nwc-fault ...]``."""

    uri_file: Path
    relay_url: str
    faults: WalletFaults = WalletFaults()


READY_LINE = "zapcharge simnode: NWC wallet service ready"  # printed once it first serves


def parse_faults(words: Sequence[str]) -> WalletFaults:
    """``--nwc-fault`` words: ``nip04_only``, ``no_notifications``, ``duplicate_notifications``,
    ``offline``, ``drop_notifications=N``, ``drop_responses=METHOD:N``, ``without=METHOD``.
    ValueError names a word it does not know."""
    flags: dict[str, Any] = {}
    drops: dict[str, int] = {}
    without: set[str] = set()
    for word in words:
        name, _, value = word.partition("=")
        if name in ("nip04_only", "no_notifications", "duplicate_notifications") and not value:
            flags[name] = True
        elif name == "offline" and not value:
            flags["online"] = False
        elif name == "drop_notifications" and value.isdigit():
            flags[name] = int(value)
        elif name == "drop_responses" and value.partition(":")[2].isdigit():
            method, _, count = value.partition(":")
            drops[method] = int(count)
        elif name == "without" and value:
            without.add(value)
        else:
            raise ValueError(f"unknown NWC fault {word!r}")
    return WalletFaults(**flags, drop_responses=drops, without_methods=frozenset(without))


def fault_words(faults: WalletFaults) -> list[str]:
    """The ``--nwc-fault`` words that :func:`parse_faults` reads back as ``faults``."""
    words = [
        name
        for name in ("nip04_only", "no_notifications", "duplicate_notifications")
        if getattr(faults, name)
    ]
    if not faults.online:
        words.append("offline")
    if faults.drop_notifications:
        words.append(f"drop_notifications={faults.drop_notifications}")
    words += [f"drop_responses={m}:{n}" for m, n in faults.drop_responses.items() if n]
    words += [f"without={method}" for method in sorted(faults.without_methods)]
    return words


def build_wallet(node: SimNode, options: WalletOptions) -> SimWallet:
    """The wallet service of ``node``, its keys kept in the node's state; writes the URI file."""
    wallet_secret, client_secret, uri = prepare_connection(node.state, options.relay_url)
    write_uri_file(options.uri_file, uri)
    return SimWallet(
        node,
        options.relay_url,
        wallet_secret=wallet_secret,
        client_pubkey=public_key_hex(client_secret),
        faults=options.faults,
    )


def prepare_connection(state: SimState, relay_url: str) -> tuple[str, str, str]:
    """(wallet secret, client secret, connection URI), the same across restarts.

    Both secrets are kept in the node's state file. A real wallet service should not keep
    its client's secret; this simulation does, so that the URI file it rewrites at every
    start stays valid for a bot that already read it.
    """
    wallet_secret, client_secret = state.secret(WALLET_KEY_NAME), state.secret(CLIENT_SECRET_NAME)
    uri = format_uri(public_key_hex(wallet_secret), [relay_url], client_secret)
    return wallet_secret, client_secret, uri


def write_uri_file(path: Path, uri: str) -> None:
    """Write the connection URI with mode 0600 from the first byte, replacing any old file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.unlink(missing_ok=True)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(uri + "\n")
    os.replace(partial, path)


class SimWallet:
    def __init__(
        self,
        node: SimNode,
        relay_url: str,
        *,
        wallet_secret: str,
        client_pubkey: str,
        faults: WalletFaults | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.node, self.relay_url = node, relay_url
        self.ledger = LedgerMethods(node)
        self.pubkey = public_key_hex(wallet_secret)
        self.client_pubkey = client_pubkey
        self.faults = faults or WalletFaults()
        self.clock = clock
        self.ready = asyncio.Event()  # connected, info published, subscribed
        self._secret = wallet_secret
        self._online = asyncio.Event()
        if self.faults.online:
            self._online.set()
        self._link: RelayLink | None = None
        self._last_info_at = 0
        self._settlements: asyncio.Queue[tuple[str, str]] = asyncio.Queue(_SETTLEMENTS_QUEUED)
        node.on_settled(self._on_settled)
        node.add_method("dev-simnode-nwc-faults", self._faults_rpc, _FAULT_NAMES)

    # -- what it says -----------------------------------------------------------------

    @property
    def methods(self) -> tuple[str, ...]:
        return tuple(m for m in METHODS if m not in self.faults.without_methods)

    @property
    def notifications(self) -> tuple[str, ...]:
        return () if self.faults.no_notifications else NOTIFICATIONS

    def info_event(self) -> dict[str, Any]:
        """Kind 13194; each one newer than the last, so a relay keeps the latest."""
        faults = self.faults
        words = [*self.methods, *(["notifications"] if self.notifications else [])]
        tags = info_tags([Encryption.NIP44_V2, Encryption.NIP04], self.notifications)
        if faults.nip04_only:  # an older wallet: no encryption tag means NIP-04 only
            tags = [tag for tag in tags if tag[0] != "encryption"]
        self._last_info_at = max(self._now(), self._last_info_at + 1)
        return sign_event(self._secret, INFO_KIND, info_content(words), tags, self._last_info_at)

    # -- requests ---------------------------------------------------------------------

    async def handle(self, event: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The response events (none or one) to a request event."""
        if (
            event.get("kind") != REQUEST_KIND
            or not verify_event(event)
            or _expired(event, self._now())
        ):
            return []
        author, tags = str(event["pubkey"]), event["tags"]
        scheme = encryption_of_request(tags)
        if scheme is None or (scheme is Encryption.NIP44_V2 and self.faults.nip04_only):
            reply = Encryption.NIP04 if self.faults.nip04_only else Encryption.NIP44_V2
            refusal = Response.failure(
                "", ErrorCode.UNSUPPORTED_ENCRYPTION, "this wallet speaks " + self._schemes()
            )
            return [self._response_event(event, reply, refusal)]
        response = await self._answer(event, author, scheme)
        if response is None:
            return []
        dropping = self.faults.drop_responses.get(response.result_type, 0)
        if dropping > 0:  # done, but the client never hears of it
            drops = {**self.faults.drop_responses, response.result_type: dropping - 1}
            self.faults = dataclasses.replace(self.faults, drop_responses=drops)
            log.info("simulated wallet: dropping the response to %s", response.result_type)
            return []
        return [self._response_event(event, scheme, response)]

    async def _answer(
        self, event: Mapping[str, Any], author: str, scheme: Encryption
    ) -> Response | None:
        try:
            request = decode_request(decrypt(scheme, self._secret, author, str(event["content"])))
        except NwcProtocolError as exc:
            return Response.failure("", ErrorCode.OTHER, f"unreadable request: {exc}")
        if author != self.client_pubkey:
            return Response.failure(
                request.method, ErrorCode.UNAUTHORIZED, "no wallet is connected to this key"
            )
        return await self.ledger.call(request, self.methods, self.notifications)

    def _response_event(
        self, request: Mapping[str, Any], scheme: Encryption, response: Response
    ) -> dict[str, Any]:
        author = str(request["pubkey"])
        content = encrypt(scheme, self._secret, author, encode_response(response))
        tags = [["p", author], ["e", str(request["id"])]]
        return sign_event(self._secret, RESPONSE_KIND, content, tags, self._now())

    # -- notifications ----------------------------------------------------------------

    def notification_events(self, direction: str, payment_hash: str) -> list[dict[str, Any]]:
        """The notification events for one settlement, after the faults had their say."""
        faults = self.faults
        transaction = self.ledger.transaction(direction, payment_hash)
        if transaction is None or not self.notifications:
            return []
        if faults.drop_notifications > 0:
            self.faults = dataclasses.replace(
                faults, drop_notifications=faults.drop_notifications - 1
            )
            log.info("simulated wallet: dropping a notification of %s", payment_hash[:12])
            return []
        kind = "payment_received" if direction == "incoming" else "payment_sent"
        text = encode_notification(Notification(kind, transaction_json(transaction)))
        schemes = [Encryption.NIP04] if faults.nip04_only else list(Encryption)
        copies = 2 if faults.duplicate_notifications else 1
        events = []
        for _ in range(copies):
            for scheme in schemes:
                event_kind = (
                    NOTIFICATION_KIND_NIP44
                    if scheme is Encryption.NIP44_V2
                    else NOTIFICATION_KIND_NIP04
                )
                content = encrypt(scheme, self._secret, self.client_pubkey, text)
                tags = [["p", self.client_pubkey]]
                events.append(sign_event(self._secret, event_kind, content, tags, self._now()))
        return events

    def _on_settled(self, direction: str, payment_hash: str) -> None:
        # Called inside the ledger's call: queue it, the connected wallet sends it. While
        # the wallet is down nobody hears of it, as with a real wallet service.
        if self._link is not None and not self._settlements.full():
            self._settlements.put_nowait((direction, payment_hash))

    # -- faults -----------------------------------------------------------------------

    async def set_faults(self, **changes: Any) -> WalletFaults:
        """Change faults while running; a changed info event is published at once."""
        before = self.faults
        self.faults = dataclasses.replace(before, **changes)
        if self.faults.online != before.online:
            await self._set_online(self.faults.online)
        elif self._link is not None and self._info_of(self.faults) != self._info_of(before):
            await self._link.publish(self.info_event())
        return self.faults

    async def _faults_rpc(self, params: dict[str, Any]) -> dict[str, Any]:
        changes = dict(params)
        if "without_methods" in changes:
            changes["without_methods"] = frozenset(changes["without_methods"])
        faults = await self.set_faults(**changes)
        shown = dataclasses.asdict(faults)
        shown["without_methods"] = sorted(faults.without_methods)
        shown["drop_responses"] = dict(faults.drop_responses)
        return shown

    async def _set_online(self, online: bool) -> None:
        if online:
            self._online.set()
            return
        self._online.clear()
        link = self._link
        if link is not None:
            await link.close()

    @staticmethod
    def _info_of(faults: WalletFaults) -> tuple[Any, ...]:
        return (faults.nip04_only, faults.no_notifications, faults.without_methods)

    # -- the pump ---------------------------------------------------------------------

    async def run(self) -> None:
        """Serve while online, reconnecting with backoff, until cancelled."""
        log.warning(
            "zapcharge simnode: a SIMULATED NWC wallet service (NIP-47; no real money), "
            "wallet %s on %s",
            self.pubkey,
            self.relay_url,
        )
        backoff = _BACKOFF_FIRST_S
        while True:
            await self._online.wait()
            try:
                async with connect(self.relay_url, open_timeout=10) as connection:
                    backoff = _BACKOFF_FIRST_S
                    await self._serve(connection)
            except* (OSError, TimeoutError, NostrError, InvalidHandshake, InvalidURI) as group:
                if self._online.is_set():
                    log.warning(
                        "simulated wallet: relay %s: %s", self.relay_url, group.exceptions[0]
                    )
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, _BACKOFF_MAX_S)

    async def _serve(self, connection: ClientConnection) -> None:
        link = RelayLink(connection)
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(link.pump())
            notifier: asyncio.Task[None] | None = None
            try:
                await link.publish(self.info_event())
                await link.subscribe([{"kinds": [REQUEST_KIND], "#p": [self.pubkey]}])
                self._link = link
                notifier = tasks.create_task(self._notify(link))
                self.ready.set()
                await self._answer_requests(link)
            finally:
                self._link = None
                self.ready.clear()
                if notifier is not None:
                    notifier.cancel()
                await link.close()

    async def _answer_requests(self, link: RelayLink) -> None:
        while True:
            try:
                _, event = await link.next_event()
            except NostrError:
                return  # the connection closed: run() reconnects while online
            for reply in await self.handle(event):
                await link.send(reply)

    async def _notify(self, link: RelayLink) -> None:
        while True:
            direction, payment_hash = await self._settlements.get()
            for event in self.notification_events(direction, payment_hash):
                await link.send(event)

    def _schemes(self) -> str:
        return "nip04" if self.faults.nip04_only else "nip44_v2 nip04"

    def _now(self) -> int:
        return int(self.clock())


_FAULT_NAMES = tuple(f.name for f in dataclasses.fields(WalletFaults))


def _expired(event: Mapping[str, Any], now: int) -> bool:
    """NIP-47: a request received after its ``expiration`` tag's time is ignored."""
    for tag in event.get("tags", []):
        if len(tag) >= 2 and tag[0] == "expiration":
            try:
                return int(tag[1]) < now
            except ValueError:
                return False
    return False
