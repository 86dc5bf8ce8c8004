"""Chargers added, changed or removed while the bot runs: ``zapcharge reload`` and SIGHUP.

A reload reads ``identities/`` again and checks everything before it changes anything. A
file that does not parse, a duplicate id, a key file that cannot be read, or a change
this process cannot make while running (a ``[zapper]`` table or a spot/green price feed,
whose listeners and feed loops start with the process; a charger's key) refuses the whole
reload and says why: nothing changes.

Otherwise, in one step, every part is told the new set (:class:`~bot.ports.FleetListener`):
new chargers are registered, admitted by the OCPP server, offered by the pay side,
published and heard on nostr, and priced; changed ones take their new settings; removed
ones stop taking new sessions at once (no new invoice) but stay known, connected and heard
until no session needs the charger any more (none quoted, paid, starting, charging or
stopping), and then retire: disconnected, refused, no longer published. Settling and
refunds need no charger; its key still signs the refund DMs.

:func:`plan_reload` is the decision, without I/O; :class:`Fleet` carries it out and is
the console's roster.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from bot.config import ChargerConfig
from bot.errors import ConfigError
from bot.ports import FleetListener

__all__ = ["Fleet", "ReloadPlan", "plan_reload"]

log = logging.getLogger("bot.fleet")

_FEED_KINDS = ("spot", "green")


@dataclass(frozen=True)
class ReloadPlan:
    added: tuple[ChargerConfig, ...]
    changed: tuple[ChargerConfig, ...]
    removed: tuple[str, ...]
    serving: tuple[ChargerConfig, ...]  # everything in identities/ now
    problems: tuple[str, ...]  # non-empty: refuse the reload

    def summary(self) -> str:
        parts = [
            f"{label}: {', '.join(ids)}"
            for label, ids in (
                ("added", [c.id for c in self.added]),
                ("changed", [c.id for c in self.changed]),
                ("removed (finishing their sessions)", list(self.removed)),
            )
            if ids
        ]
        return "; ".join(parts) or "nothing changed"


def _feeds(charger: ChargerConfig) -> bool:
    return charger.pricing is not None and charger.pricing.kind in _FEED_KINDS


def plan_reload(
    current: Mapping[str, ChargerConfig], loaded: Sequence[ChargerConfig]
) -> ReloadPlan:
    """What a reload from ``current`` to ``loaded`` does, and why it cannot, if it cannot."""
    new = {c.id: c for c in loaded}
    added = tuple(c for c in loaded if c.id not in current)
    changed = tuple(c for c in loaded if c.id in current and current[c.id] != c)
    removed = tuple(cid for cid in current if cid not in new)
    problems: list[str] = []
    for charger in added:
        if charger.zapper is not None:
            problems.append(f"{charger.id}: a charger with a [zapper] table needs a restart")
        if _feeds(charger):
            problems.append(f"{charger.id}: a spot or green price feed needs a restart")
    for charger in changed:
        old = current[charger.id]
        if old.keys != charger.keys:
            problems.append(f"{charger.id}: its key changed; that needs a restart")
        if old.zapper != charger.zapper:
            problems.append(f"{charger.id}: its [zapper] table changed; that needs a restart")
        if (_feeds(charger) or _feeds(old)) and old.pricing != charger.pricing:
            problems.append(f"{charger.id}: a spot or green price feed needs a restart")
    for charger_id in removed:
        if current[charger_id].zapper is not None:
            problems.append(f"{charger_id}: removing a [zapper] charger needs a restart")
    return ReloadPlan(added, changed, removed, tuple(loaded), tuple(problems))


Load = Callable[[], Sequence[ChargerConfig]]
Unfinished = Callable[[str], Awaitable[int]]
Register = Callable[[Sequence[ChargerConfig]], Awaitable[None]]


class Fleet:
    """The chargers of the running bot. A Service: reloads on request (SIGHUP sets
    :attr:`requested`) and retires removed chargers once their sessions are done."""

    name = "fleet"

    def __init__(
        self,
        chargers: Sequence[ChargerConfig],
        *,
        load: Load,
        listeners: Sequence[FleetListener],
        register: Register,
        unfinished: Unfinished,
        check_every_s: float = 5.0,
    ) -> None:
        self._serving = {c.id: c for c in chargers}
        self._retiring: dict[str, ChargerConfig] = {}
        self._load, self._listeners = load, listeners
        self._register, self._unfinished = register, unfinished
        self._check_every_s = check_every_s
        self._lock = asyncio.Lock()
        self.requested = asyncio.Event()

    @property
    def chargers(self) -> tuple[ChargerConfig, ...]:
        """Every charger still known: those serving, then those finishing their sessions."""
        return (*self._serving.values(), *self._retiring.values())

    def accepting(self, charger_id: str) -> bool:
        return charger_id in self._serving

    async def reload(self) -> tuple[bool, str]:
        """Re-read identities/; (False, why) and no change when anything is wrong."""
        async with self._lock:
            try:
                # Reading keys may decrypt NIP-49 (scrypt): not on the event loop.
                loaded = await asyncio.to_thread(self._load)
            except ConfigError as error:
                log.warning("reload refused, nothing changed: %s", error)
                return False, f"nothing changed: {error}"
            plan = plan_reload({**self._retiring, **self._serving}, loaded)
            if plan.problems:
                reason = "; ".join(plan.problems)
                log.warning("reload refused, nothing changed: %s", reason)
                return False, f"nothing changed: {reason}"
            await self._register([*plan.added, *plan.changed])
            retiring = dict(self._retiring)
            for charger_id in plan.removed:
                if charger_id in self._serving:
                    retiring[charger_id] = self._serving[charger_id]
            serving = {c.id: c for c in plan.serving}
            for charger_id in serving:
                retiring.pop(charger_id, None)
            # Every part first; the roster (what the console shows) once they all know.
            await self._tell(serving, retiring)
            self._serving, self._retiring = serving, retiring
            log.info("reloaded identities: %s", plan.summary())
            return True, f"reloaded: {plan.summary()}"

    async def _tell(
        self, serving: Mapping[str, ChargerConfig], retiring: Mapping[str, ChargerConfig]
    ) -> None:
        known = (*serving.values(), *retiring.values())
        for listener in self._listeners:
            await listener.fleet_changed(tuple(serving.values()), known)

    async def retire_finished(self) -> list[str]:
        """Forget removed chargers that have no unfinished session left."""
        async with self._lock:
            done = [cid for cid in self._retiring if not await self._unfinished(cid)]
            if not done:
                return []
            retiring = {cid: c for cid, c in self._retiring.items() if cid not in done}
            await self._tell(self._serving, retiring)
            self._retiring = retiring
            for charger_id in done:
                log.info("charger %s retired: its last session is finished", charger_id)
            return done

    async def run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._check_every_s):
                    await self.requested.wait()
            if self.requested.is_set():
                self.requested.clear()
                await self.reload()
            try:
                await self.retire_finished()
            except Exception:  # the store may be busy: try again at the next check
                log.exception("retiring removed chargers failed")
