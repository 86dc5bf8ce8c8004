"""A simulated OCPP 1.6-J charge point, on the ``ocpp`` library as a client.

It follows the real message sequence: BootNotification, StatusNotification per connector,
RemoteStartTransaction -> StartTransaction -> MeterValues every ``MeterValueSampleInterval``
(energy, power, state of charge) -> RemoteStopTransaction -> StopTransaction. It honours
ChangeConfiguration, GetConfiguration, TriggerMessage, UnlockConnector, Reset,
ChangeAvailability, SetChargingProfile (a power limit in W or A), ReserveNow and
CancelReservation (a Reserved connector starts only for its idTag; it frees itself at the
expiry date, on its own simulated clock).

Use it in-process (tests, the demo): ``SimCharger(settings)``, ``await sim.run()`` in a task
you own, then drive it with :meth:`plug_in`, :meth:`unplug`, :meth:`fault`,
:meth:`clear_fault` and :meth:`disconnect`, and watch :attr:`connectors`,
:attr:`received` and :attr:`sent`. Everything it sends goes through one outbox, sent in
order while connected: what happens while it is offline (a stop on unplug) is sent after
it reconnects, as a real charger does with its transaction messages.

From the shell: ``zapcharge sim-charger --url ws://127.0.0.1:9000/ocpp --id cp-001
--password ... --power-w 11000``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import logging
import signal
import ssl
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ocpp.exceptions import OCPPError
from ocpp.v16 import call
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from bot.errors import ConfigError
from bot.ocpp.auth import RedactingLog
from bot.ocpp.simlink import SimLink
from bot.ocpp.simstate import SimClock, SimConnector, meter_value

__all__ = ["SimCharger", "SimSettings", "main_from_args"]

log = logging.getLogger("bot.ocpp.sim")


@dataclass(frozen=True)
class SimSettings:
    url: str  # the endpoint, with or without the charger id at its end
    charger_id: str
    password: str
    power_w: int = 11_000
    connectors: int = 1
    clock_speed: float = 1.0
    sample_interval_s: int = 60
    heartbeat_interval_s: int = 300
    battery_wh: int = 60_000
    soc_percent: float = 20.0
    auto_unplug_s: float | None = None  # simulated seconds after a stop until the car leaves
    late_end_readings: bool = False  # quirk: Transaction.End readings after StopTransaction
    reconnect_delay_s: float = 1.0
    ssl_context: ssl.SSLContext | None = None
    vendor: str = "Zapcharge"
    model: str = "SimCharger"
    takes_reservations: bool = True  # False: a station without the reservation feature

    @property
    def endpoint(self) -> str:
        base = self.url.rstrip("/")
        return base if base.endswith("/" + self.charger_id) else f"{base}/{self.charger_id}"


@dataclass
class _Outgoing:
    payload: Any  # an ``ocpp.v16.call`` object, or "disconnect" / "reboot"
    then: Callable[[Any], None] | None = None
    offline_s: float = 0.0


@dataclass
class SimCharger:
    settings: SimSettings
    clock: SimClock = field(init=False)
    connectors: dict[int, SimConnector] = field(init=False)
    received: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    sent: list[tuple[str, Any]] = field(default_factory=list)
    connected: bool = False
    boots: int = 0
    sample_interval_s: int = field(init=False)
    SUBPROTOCOL: ClassVar[str] = "ocpp1.6"

    def __post_init__(self) -> None:
        s = self.settings
        self.clock = SimClock(s.clock_speed)
        self.connectors = {
            n: SimConnector(n, s.power_w, 1_000_000.0 * n, s.battery_wh, s.soc_percent)
            for n in range(1, s.connectors + 1)
        }
        self.sample_interval_s = s.sample_interval_s
        self.heartbeat_interval_s = s.heartbeat_interval_s
        self._outbox: deque[_Outgoing] = deque()
        self._wake = asyncio.Event()
        self._booted = False
        self._offline_until = 0.0
        self._due: dict[int, float] = {}
        self._unplug_at: dict[int, float] = {}
        self._reserved_until: dict[int, float] = {}  # monotonic deadlines of reservations

    # -- hooks for tests and the demo -----------------------------------------------------

    def plug_in(self, connector_id: int = 1) -> None:
        c = self._advance(connector_id)
        c.plugged = True
        if not c.busy:
            self._status(c, c.idle_status())

    def unplug(self, connector_id: int = 1) -> None:
        c = self._advance(connector_id)
        c.plugged = False
        self._unplug_at.pop(connector_id, None)
        if c.busy:
            self.stop_transaction(c, "EVDisconnected")
        self._status(c, c.idle_status())

    def fault(self, connector_id: int = 1, error_code: str = "GroundFailure") -> None:
        c = self._advance(connector_id)
        c.error_code = error_code
        if c.busy:
            self.stop_transaction(c, "Other")
        self._status(c, "Faulted")

    def clear_fault(self, connector_id: int = 1) -> None:
        c = self._advance(connector_id)
        c.error_code = "NoError"
        self._status(c, c.idle_status())

    def disconnect(self, offline_s: float = 0.0) -> None:
        """Drop the connection (as a network outage would) and stay away ``offline_s``."""
        self._send("disconnect", offline_s=offline_s)

    async def wait_for(self, predicate: Callable[[], bool], within: float = 10.0) -> None:
        deadline = time.monotonic() + within
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.settings.charger_id}: condition not met")
            await asyncio.sleep(0.01)

    def commands(self, action: str) -> list[dict[str, Any]]:
        return [payload for name, payload in self.received if name == action]

    # -- what the connectors do ------------------------------------------------------------

    def _advance(self, connector_id: int) -> SimConnector:
        now = self.clock.now()
        for c in self.connectors.values():
            c.advance(now)
        return self.connectors[connector_id]

    def _send(self, payload: Any, then: Callable[[Any], None] | None = None, **kw: Any) -> None:
        self._outbox.append(_Outgoing(payload, then, **kw))
        self._wake.set()

    def _status(self, c: SimConnector, status: str) -> None:
        c.status = status
        self._send(
            call.StatusNotification(
                connector_id=c.id,
                error_code=c.error_code,
                status=status,
                timestamp=self.clock.iso(),
            )
        )

    def reserve(self, c: SimConnector, reservation_id: int, id_tag: str, until: float) -> None:
        c.reservation = (reservation_id, id_tag)
        self._reserved_until[c.id] = time.monotonic() + self.clock.real_seconds(
            max(0.0, until - self.clock.now())
        )
        self._status(c, c.idle_status())

    def end_reservation(self, c: SimConnector) -> None:
        c.reservation = None
        self._reserved_until.pop(c.id, None)
        if not c.busy:
            self._status(c, c.idle_status())

    def reservation_expired(self, c: SimConnector) -> None:
        """Its time ran out unused (1.6 only reports the connector's status again)."""
        self.end_reservation(c)

    def start_transaction(self, c: SimConnector, id_tag: str) -> None:
        c.reservation = None  # a transaction for the reserved idTag ends the reservation
        self._reserved_until.pop(c.id, None)
        self._advance(c.id)
        c.plugged, c.starting, c.id_tag, c.stop_when_started = True, True, id_tag, None
        self._status(c, "Preparing")
        request = call.StartTransaction(
            connector_id=c.id,
            id_tag=id_tag,
            meter_start=round(c.meter_wh),
            timestamp=self.clock.iso(),
        )
        self._send(request, lambda answer: self._started(c, answer))

    def _started(self, c: SimConnector, answer: Any) -> None:
        c.starting = False
        if answer is None:  # refused with a CALLERROR: no transaction
            c.id_tag = None
            self._status(c, c.idle_status())
            return
        c.transaction_id = answer.transaction_id
        if c.stop_when_started is not None:
            self.stop_transaction(c, c.stop_when_started)
        elif answer.id_tag_info.get("status") != "Accepted":
            self.stop_transaction(c, "DeAuthorized")
        else:
            self._advance(c.id)
            self._status(c, "Charging")
            self._due[c.id] = time.monotonic() + self.clock.real_seconds(self.sample_interval_s)

    def stop_transaction(self, c: SimConnector, reason: str) -> None:
        if c.starting:
            c.stop_when_started = reason  # stopped before the central system answered
            return
        if c.transaction_id is None:
            return
        self._advance(c.id)
        end = meter_value(c, self.clock.iso(), "Transaction.End")
        late = self.settings.late_end_readings
        self._send(
            call.StopTransaction(
                meter_stop=round(c.meter_wh),
                timestamp=self.clock.iso(),
                transaction_id=c.transaction_id,
                reason=reason,
                id_tag=c.id_tag,
                transaction_data=None if late else [end],
            )
        )
        if late:
            self._send(
                call.MeterValues(
                    connector_id=c.id, meter_value=[end], transaction_id=c.transaction_id
                )
            )
        c.transaction_id, c.id_tag = None, None
        self._due.pop(c.id, None)
        if c.pending_inoperative:
            c.operative, c.pending_inoperative = False, False
        self._status(c, "Finishing" if c.plugged and c.error_code == "NoError" else c.idle_status())
        if c.plugged and self.settings.auto_unplug_s is not None:
            self._unplug_at[c.id] = time.monotonic() + self.clock.real_seconds(
                self.settings.auto_unplug_s
            )

    def send_meter_values(self, c: SimConnector, context: str = "Sample.Periodic") -> None:
        self._advance(c.id)
        sample = meter_value(c, self.clock.iso(), context)
        self._send(
            call.MeterValues(
                connector_id=c.id, meter_value=[sample], transaction_id=c.transaction_id
            )
        )

    def send_boot(self) -> None:
        self._outbox.append(self._boot_item())
        self._wake.set()

    def _boot_answered(self, answer: Any) -> None:
        if answer is None:
            return
        self.boots += 1
        self._booted = answer.status == "Accepted"
        self.heartbeat_interval_s = int(answer.interval) or self.heartbeat_interval_s

    def send_heartbeat(self) -> None:
        self._send(call.Heartbeat())

    def resend_status(self, c: SimConnector, status: str | None = None) -> None:
        self._advance(c.id)
        self._status(c, status or c.status)

    def reboot(self, reason: str) -> None:
        for c in self.connectors.values():
            self.stop_transaction(c, reason)
        self._send("reboot", offline_s=0.2)

    # -- the connection --------------------------------------------------------------------

    async def run(self) -> None:
        """Connect, and reconnect after every drop, until cancelled."""
        token = base64.b64encode(
            f"{self.settings.charger_id}:{self.settings.password}".encode()
        ).decode()
        while True:
            await asyncio.sleep(max(0.0, self._offline_until - time.monotonic()))
            try:
                async with connect(
                    self.settings.endpoint,
                    subprotocols=[self.SUBPROTOCOL],  # type: ignore[list-item]
                    additional_headers={"Authorization": f"Basic {token}"},
                    ssl=self.settings.ssl_context,
                    compression=None,
                    open_timeout=10,
                    logger=RedactingLog("bot.ocpp.sim.websockets"),
                ) as ws:
                    await self._serve(self._link(ws))
            except (OSError, InvalidHandshake, TimeoutError) as error:
                log.warning("%s: cannot connect: %s", self.settings.charger_id, error)
            await asyncio.sleep(self.settings.reconnect_delay_s)

    def _link(self, ws: Any) -> Any:
        """The charge point side of the wire (the ``ocpp`` library's ChargePoint)."""
        return SimLink(self, ws)

    def _resumed(self) -> None:
        """Called after each (re)connect and boot, before the statuses are sent again."""

    async def _serve(self, link: Any) -> None:
        self.connected = True
        log.info("%s: connected", self.settings.charger_id)
        # Two tasks owned here: the library's reader and our sender. When either ends (the
        # connection dropped, or we dropped it) the other is cancelled and awaited.
        tasks = [asyncio.create_task(link.start()), asyncio.create_task(self._drive(link))]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.connected = False
            await _cancel_all(tasks)
        for task in tasks:
            error = None if task.cancelled() else task.exception()
            if error is not None and not isinstance(error, ConnectionClosed | TimeoutError):
                raise error
        log.info("%s: connection lost", self.settings.charger_id)

    async def _drive(self, link: Any) -> None:
        if not self._booted:
            await self._deliver(link, self._boot_item())
        self._resumed()
        for c in self.connectors.values():
            self._status(c, c.status)
        heartbeat_due = time.monotonic() + self.heartbeat_interval_s
        while True:
            while self._outbox:
                item = self._outbox[0]
                if isinstance(item.payload, str):  # "disconnect" or "reboot"
                    self._outbox.popleft()
                    self._offline_until = time.monotonic() + item.offline_s
                    self._booted = self._booted and item.payload != "reboot"
                    await link.close()
                    return  # link.start() now ends with ConnectionClosed
                # Taken off only once answered: after a drop it is sent again (the central
                # system recognises a repeated start or stop).
                await self._deliver(link, item)
                self._outbox.popleft()
            heartbeat_due = self._tick(heartbeat_due)
            if self._outbox:
                continue
            wake_at = min(
                [
                    heartbeat_due,
                    *self._due.values(),
                    *self._unplug_at.values(),
                    *self._reserved_until.values(),
                ]
            )
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, wake_at - time.monotonic())):
                    await self._wake.wait()

    def _tick(self, heartbeat_due: float) -> float:
        """Queue what is due: meter samples, a car leaving, a heartbeat."""
        now = time.monotonic()
        for connector_id, due in list(self._due.items()):
            if now >= due:
                self._due[connector_id] = due + self.clock.real_seconds(self.sample_interval_s)
                self.send_meter_values(self.connectors[connector_id])
        for connector_id, due in list(self._unplug_at.items()):
            if now >= due:
                self.unplug(connector_id)
        for connector_id, due in list(self._reserved_until.items()):
            if now >= due:
                self.reservation_expired(self.connectors[connector_id])
        if now >= heartbeat_due:
            heartbeat_due = now + self.heartbeat_interval_s
            self.send_heartbeat()
        return heartbeat_due

    def _boot_item(self) -> _Outgoing:
        request = call.BootNotification(
            charge_point_model=self.settings.model, charge_point_vendor=self.settings.vendor
        )
        return _Outgoing(request, self._boot_answered)

    async def _deliver(self, link: Any, item: _Outgoing) -> None:
        action = type(item.payload).__name__
        try:
            answer = await link.call(item.payload, suppress=False)
        except OCPPError as error:
            log.warning("%s: %s refused: %s", self.settings.charger_id, action, error)
            answer = None
        self.sent.append((action, answer))
        if item.then is not None:
            item.then(answer)


async def _cancel_all(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel and await; cancel again while any is still running, because on Python 3.11
    ``wait_for`` (used inside the ``ocpp`` library) can swallow a cancellation that
    arrives together with its result."""
    while pending := [t for t in tasks if not t.done()]:
        for task in pending:
            task.cancel()
        await asyncio.wait(pending, timeout=0.1)


def main_from_args(args: argparse.Namespace) -> int:
    """``zapcharge sim-charger``: run one simulated charger until SIGINT or SIGTERM."""
    for flag, value in (
        ("--power-w", args.power_w),
        ("--connectors", args.connectors),
        ("--clock-speed", args.clock_speed),
        ("--sample-interval", args.sample_interval),
    ):
        if value <= 0:
            raise ConfigError("sim-charger", flag, f"must be positive, got {value}")
    settings = SimSettings(
        url=args.url,
        charger_id=args.id,
        password=args.password,
        power_w=args.power_w,
        connectors=args.connectors,
        clock_speed=args.clock_speed,
        sample_interval_s=args.sample_interval,
        auto_unplug_s=args.auto_unplug,
    )
    if args.ocpp == "2.0.1":
        # Imported here: bot.ocpp.v201.simcharger builds on this module.
        from bot.ocpp.v201.simcharger import SimCharger201

        sim: SimCharger = SimCharger201(settings)
    else:
        sim = SimCharger(settings)
    print(
        f"simulated charger {settings.charger_id} (OCPP {args.ocpp}) -> {settings.endpoint}"
        " (Ctrl-C stops it)"
    )
    asyncio.run(_run_until_signalled(sim))
    return 0


async def _run_until_signalled(sim: SimCharger) -> None:
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await sim.run()
    log.info("%s: stopped", sim.settings.charger_id)
