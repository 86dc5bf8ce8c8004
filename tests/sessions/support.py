"""A running session layer for tests: real SQLite, the real central system on 127.0.0.1
port 0, simulated chargers over real websockets, and the real session inbox and workers.

``Driver`` is the driver's side of the nostr seam (it keeps the DMs it is sent and says
which lightning address its profile has); the refund desk is passed in by each test.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bot.app import register_chargers
from bot.config import Config, load_config
from bot.ocpp import CentralSystem
from bot.ocpp.simcharger import SimCharger, SimSettings
from bot.ocpp.v201.simcharger import SimCharger201
from bot.sessions.inbox import SessionInbox
from bot.sessions.machine import State
from bot.sessions.record import Session
from bot.sessions.refunding import RefundDesk, RefundRetry
from bot.sessions.tariff import make_quote
from bot.sessions.workers import SessionWorkers
from bot.store import Database
from tests.helpers import scaled, write_config

__all__ = ["PROTOCOLS", "WIRES", "Driver", "Rig", "Wire", "rig", "sim_class", "wait_until"]

PROTOCOLS = ("1.6", "2.0.1")


@dataclass(frozen=True)
class Wire:
    """What a session test looks for in a simulated charger's inbox, per OCPP version."""

    remote_start: str  # the command that starts a session's transaction
    remote_stop: str
    sample_interval: str  # the command that sets the sample interval

    def id_tag(self, command: dict[str, Any]) -> str:
        """The session's token in a remote start as the charger received it."""
        token = command.get("id_token")
        return str(token["id_token"] if isinstance(token, dict) else command["id_tag"])

    charging_profile: str = "SetChargingProfile"

    def profile_limit_w(self, command: dict[str, Any]) -> float:
        """The power cap of a SetChargingProfile as the charger received it (W)."""
        profile = command.get("cs_charging_profiles") or command["charging_profile"]
        schedule = profile["charging_schedule"]
        schedule = schedule[0] if isinstance(schedule, list) else schedule
        assert schedule["charging_rate_unit"] == "W"
        return float(schedule["charging_schedule_period"][0]["limit"])

    def interval_setting(self, command: dict[str, Any]) -> str:
        """The configuration key (1.6) or variable (2.0.1) a sample interval command set."""
        if "set_variable_data" in command:
            return str(command["set_variable_data"][0]["variable"]["name"])
        return str(command["key"])


WIRES = {
    "1.6": Wire("RemoteStartTransaction", "RemoteStopTransaction", "ChangeConfiguration"),
    "2.0.1": Wire("RequestStartTransaction", "RequestStopTransaction", "SetVariables"),
}


def sim_class(ocpp: str) -> type[SimCharger]:
    return SimCharger201 if ocpp == "2.0.1" else SimCharger


async def wait_until(
    predicate: Callable[[], Any], within: float = 10.0, what: str = "condition"
) -> None:
    deadline = time.monotonic() + scaled(within)
    while not await _truth(predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met in time")
        await asyncio.sleep(0.02)


async def _truth(value: Any) -> bool:
    if asyncio.iscoroutine(value):
        value = await value
    return bool(value)


@dataclass
class Driver:
    """The driver's end of the DMs: what they were sent, and their profile's lud16."""

    lud16: dict[str, str] = field(default_factory=dict)
    dms: list[tuple[str, str, str]] = field(default_factory=list)

    async def send_dm(
        self, charger_id: str, recipient_pubkey: str, text: str, fallback_relays: Sequence[str] = ()
    ) -> None:
        self.dms.append((charger_id, recipient_pubkey, text))

    async def lightning_address_of(self, pubkey: str) -> str | None:
        return self.lud16.get(pubkey)

    def texts(self, pubkey: str) -> list[str]:
        return [text for _, to, text in self.dms if to == pubkey]


@dataclass
class Rig:
    config: Config
    db: Database
    inbox: SessionInbox
    service: SessionWorkers
    central: CentralSystem
    driver: Driver
    url: str
    stack: AsyncExitStack
    ocpp: str = "1.6"  # the protocol the simulated chargers speak

    @property
    def wire(self) -> Wire:
        return WIRES[self.ocpp]

    async def charger(self, charger_id: str = "cp-001", **settings: Any) -> SimCharger:
        defaults: dict[str, Any] = {
            "clock_speed": 300.0,
            "sample_interval_s": 60,
            "reconnect_delay_s": 0.1,
            "power_w": 11_000,
        }
        charger = next(c for c in self.config.chargers if c.id == charger_id)
        sim = sim_class(self.ocpp)(
            SimSettings(self.url, charger_id, charger.ocpp_password, **(defaults | settings))
        )
        task = asyncio.create_task(sim.run())

        async def stop() -> None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

        self.stack.push_async_callback(stop)
        await sim.wait_for(lambda: sim.boots >= 1 and self.central.is_online(charger_id), 10)
        return sim

    async def paid_session(
        self,
        amount_msat: int,
        *,
        payer: str | None = None,
        charger_id: str = "cp-001",
        connector_id: int = 1,
    ) -> Session:
        """A quoted session at the charger's tariff, then its payment, as the pay side does."""
        session = await self.quoted(payer=payer, charger_id=charger_id, connector_id=connector_id)
        assert session.payment_hash is not None
        await self.inbox.session_paid(session.payment_hash, amount_msat, int(time.time()))
        return session

    async def quoted(
        self, *, payer: str | None = None, charger_id: str = "cp-001", connector_id: int = 1
    ) -> Session:
        charger = self.config.charger(charger_id)
        assert charger is not None
        return await self.service.store.create(
            charger_id,
            connector_id,
            make_quote(charger.tariff, time.time()),
            payer_pubkey=payer,
            payment_hash=secrets.token_hex(32),
        )

    async def state_of(self, session_id: str) -> State:
        return (await self.service.store.load(session_id)).state

    async def reaches(self, session_id: str, *states: State, within: float = 10.0) -> Session:
        await wait_until(
            lambda: self._in(session_id, states), within, f"session in {[s.value for s in states]}"
        )
        return await self.service.store.load(session_id)

    async def _in(self, session_id: str, states: Sequence[State]) -> bool:
        return await self.state_of(session_id) in states


@asynccontextmanager
async def rig(
    tmp_path: Path,
    *,
    chargers: tuple[str, ...] = ("cp-001",),
    refunds: Callable[[Config, Database], RefundDesk] | None = None,
    driver: Driver | None = None,
    retry: RefundRetry | None = None,
    clock: Callable[[], float] = time.time,
    ocpp: str = "1.6",
    **sessions: int,
) -> AsyncIterator[Rig]:
    config = load_config(write_config(tmp_path, chargers=chargers))
    settings = {"start_timeout_s": 3, "stop_timeout_s": 3, "disconnect_timeout_s": 2} | sessions
    config = replace(config, sessions=replace(config.sessions, **settings))
    config.service.database_path.parent.mkdir(parents=True, exist_ok=True)
    db = await Database.open(config.service.database_path)
    driver = driver or Driver()
    async with AsyncExitStack() as stack:
        stack.push_async_callback(db.close)
        await register_chargers(config, db)
        inbox = SessionInbox(config, db, clock=clock)
        central = CentralSystem(config, db, inbox, call_timeout=scaled(5))
        service = SessionWorkers(
            config,
            db,
            inbox,
            control=central,
            messenger=driver,
            refunds=refunds(config, db) if refunds is not None else None,
            tick_s=0.05,
            retry=retry or RefundRetry(0.05, 0.2),
            clock=clock,
        )
        tasks = [asyncio.create_task(central.run()), asyncio.create_task(service.run())]

        async def stop() -> None:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        stack.push_async_callback(stop)
        port = await asyncio.wait_for(central.started(), scaled(10))
        url = f"ws://127.0.0.1:{port}/ocpp"
        yield Rig(config, db, inbox, service, central, driver, url, stack, ocpp)
