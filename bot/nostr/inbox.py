"""Receiving DM commands addressed to any of our chargers, and answering them.

One subscription covers every charger: kind 1059 and kind 4 with ``#p`` = all our pubkeys,
``since`` two days back because gift wraps are backdated (NIP-59). Each event id (and each
rumor id, since one rumor can arrive in several wraps) is claimed in ``dm_seen`` before
it is handled, so a restart or a second relay never runs a command twice. Junk of any kind
is dropped with one log line; nothing an outsider sends can end the subscription.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import nostr_sdk

from bot.config import ChargerConfig
from bot.log import charger_log
from bot.nostr.dm_codec import (
    KIND_GIFT_WRAP,
    KIND_NIP04,
    DmRejected,
    IncomingDm,
    open_gift_wrap,
    open_nip04,
    parse_command,
    recipient_of,
)
from bot.nostr.dms import DirectMessenger
from bot.nostr.pool import RelayPool
from bot.ports import DriverCommands
from bot.store.nostr import NostrStateStore

__all__ = ["DmReceiver"]

log = logging.getLogger(__name__)

GIFT_WRAP_BACKDATE_S = 2 * 86400
_FUTURE_SLACK_S = 600  # clocks differ; a DM from ten minutes "ahead" is still fine
_PRUNE_EVERY_S = 3600.0


class DmReceiver:
    name = "nostr-dms"

    def __init__(
        self,
        chargers: Sequence[ChargerConfig],
        pool: RelayPool,
        messenger: DirectMessenger,
        commands: DriverCommands,
        seen: NostrStateStore,
        *,
        clock: Callable[[], float] = time.time,
        max_age_s: float = 3600.0,
        concurrency: int = 32,
        max_commands_per_hour: int = 30,
    ) -> None:
        self._chargers = {c.keys.public_key_hex: c for c in chargers}
        self._pool = pool
        self._messenger = messenger
        self._commands = commands
        self._seen = seen
        self._clock = clock
        self._max_age_s = max_age_s
        self._max_commands = max_commands_per_hour
        self._slots = asyncio.Semaphore(concurrency)
        self.ready = asyncio.Event()  # set once the subscription has reached EOSE
        self._next_prune = 0.0
        self._recent: dict[str, list[float]] = {}  # sender -> times of recent commands
        self._resubscribe = asyncio.Event()  # the chargers changed (a reload)

    def set_chargers(self, chargers: Sequence[ChargerConfig]) -> None:
        """After a reload: listen for these chargers' DMs (a new subscription; the events
        the old one already handled are claimed in ``dm_seen`` and not handled twice)."""
        pubkeys = {c.keys.public_key_hex: c for c in chargers}
        if pubkeys.keys() != self._chargers.keys():
            self._chargers = pubkeys
            self._resubscribe.set()
        else:
            self._chargers = pubkeys

    def filters(self, now: float) -> list[Any]:
        """One filter for both kinds: relays cap the size of a connection's subscriptions
        (LocalRelay at 1 MiB), and two ``#p`` lists of 10,000 pubkeys were 1.3 MB: the
        relay refused them and dropped the connection every few seconds. A kind 4 older
        than now is harmless: every event id is claimed once."""
        pubkeys = [nostr_sdk.PublicKey.parse(pk) for pk in self._chargers]
        since = nostr_sdk.Timestamp.from_secs(int(now - GIFT_WRAP_BACKDATE_S))
        kinds = [nostr_sdk.Kind(KIND_GIFT_WRAP), nostr_sdk.Kind(KIND_NIP04)]
        return [nostr_sdk.Filter().kinds(kinds).pubkeys(pubkeys).since(since)]

    async def run(self) -> None:
        while True:
            self._resubscribe.clear()
            if not self._chargers:
                log.info("no chargers: not listening for DMs")
                await self._resubscribe.wait()
                continue
            await self._listen()

    async def _listen(self) -> None:
        """One subscription for the current chargers, until they change."""
        sub = await self._pool.subscribe(self.filters(self._clock()))
        self.ready.set()
        try:
            async with asyncio.TaskGroup() as group:
                while not self._resubscribe.is_set():
                    try:
                        async with asyncio.timeout(_PRUNE_EVERY_S):
                            event = await _next_or_change(sub, self._resubscribe)
                    except TimeoutError:
                        await self._prune()
                        continue
                    if event is None:
                        break
                    await self._slots.acquire()
                    group.create_task(self._handle_in_slot(event))
                    if self._clock() >= self._next_prune:
                        await self._prune()
        finally:
            await self._pool.unsubscribe(sub)

    async def _prune(self) -> None:
        """Forget handled ids older than the look-back: those events are never asked for."""
        now = self._clock()
        self._next_prune = now + _PRUNE_EVERY_S
        await self._seen.prune_dms(now - GIFT_WRAP_BACKDATE_S - 86400)

    async def _handle_in_slot(self, event: Any) -> None:
        try:
            await self.handle(event)
        finally:
            self._slots.release()

    async def handle(self, event: Any) -> None:
        """Handle one incoming event; never raises (a bad DM must not end the service)."""
        event_id = event.id().to_hex()
        try:
            await self._handle(event, event_id)
        except DmRejected as exc:
            log.info("dropped DM event %s: %s", event_id[:16], exc)
        except Exception:
            log.exception("DM event %s could not be handled", event_id[:16])

    async def _handle(self, event: Any, event_id: str) -> None:
        now = self._clock()
        if not await self._seen.claim_dm(event_id, now):
            return  # seen before: another relay, or before a restart
        charger = self._chargers.get(recipient_of(event) or "")
        if charger is None:
            raise DmRejected("not addressed to one of our chargers")
        if event.kind().as_u16() == KIND_GIFT_WRAP:
            dm = open_gift_wrap(charger.keys, event)
            if not await self._seen.claim_dm(dm.message_id, now):
                return  # the same message in another gift wrap
        else:
            dm = open_nip04(charger.keys, event)
        self._check_age(dm, now)
        if dm.sender in self._chargers:
            raise DmRejected("sent by one of our own chargers (no reply loops)")
        if not self._within_rate(dm.sender, now):
            raise DmRejected(f"more than {self._max_commands} commands within the hour")
        await self._answer(charger, dm)

    def _within_rate(self, sender: str, now: float) -> bool:
        """A few commands per sender and hour: an auto-replying bot that answers our help
        text must not start an endless conversation."""
        recent = [t for t in self._recent.get(sender, []) if t > now - 3600]
        if len(recent) >= self._max_commands:
            self._recent[sender] = recent
            return False
        self._recent[sender] = [*recent, now]
        if len(self._recent) > 10_000:  # forget quiet senders
            self._recent = {s: ts for s, ts in self._recent.items() if ts[-1] > now - 3600}
        return True

    def _check_age(self, dm: IncomingDm, now: float) -> None:
        if dm.created_at < now - self._max_age_s:
            raise DmRejected(f"command is {int(now - dm.created_at)} s old")
        if dm.created_at > now + _FUTURE_SLACK_S:
            raise DmRejected("command is dated in the future")

    async def _answer(self, charger: ChargerConfig, dm: IncomingDm) -> None:
        clog = charger_log(log, charger.id)
        command = parse_command(dm.text)
        clog.info("%s command %r from %s", dm.protocol, command, dm.sender[:12])
        reply = await self._commands.driver_command(charger.id, dm.sender, command)
        if reply:
            await self._messenger.send(charger.id, dm.sender, reply, nip04=dm.protocol == "nip04")


async def _next_or_change(sub: Any, changed: asyncio.Event) -> Any:
    """The subscription's next event, or None as soon as ``changed`` is set."""
    if changed.is_set():
        return None
    next_event = asyncio.ensure_future(sub.next())
    change = asyncio.ensure_future(changed.wait())
    try:
        await asyncio.wait({next_event, change}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        change.cancel()
        if not next_event.done():
            next_event.cancel()
    if next_event.done() and not next_event.cancelled():
        return next_event.result()
    return None
