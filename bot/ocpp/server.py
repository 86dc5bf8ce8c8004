"""The OCPP central system (1.6-J and 2.0.1): websocket server, charger registry and commands.

``ws(s)://HOST:PORT/ocpp/<charger-id>``, HTTP Basic auth checked before the upgrade
(401 / 404), TLS when ``[ocpp] tls_cert``/``tls_key`` are set, and ``GET /healthz`` on the
same port. The subprotocol the charger offers (``ocpp2.0.1``, ``ocpp1.6``, in its order of
preference) decides which protocol a connection speaks, unless its identity file pins
``ocpp_version``; one we do not speak is refused (400) before any message. 2.0.1 lives in
:mod:`bot.ocpp.v201`, behind the same seams; ``central.v201`` has its own commands.

:class:`CentralSystem` is a Service (``run``) and fills
:class:`~bot.ports.ChargerControl`; every command returns a typed result or raises
:class:`~bot.errors.OcppError` (CALLERROR: ``code`` set; no answer in time: ``code`` None)
or :class:`~bot.errors.ChargerOffline`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from http import HTTPStatus
from typing import Literal, TypeVar

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import NegotiationError
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from bot.config import ChargerConfig, Config
from bot.errors import ChargerOffline, OcppError
from bot.log import charger_log
from bot.ocpp import commands
from bot.ocpp.auth import Admitted, RedactingLog, Refused, admit
from bot.ocpp.billing import Billing
from bot.ocpp.connection import OCPP16, ChargerConnection
from bot.ocpp.frames import FrameError, MessageType, schema_error
from bot.ocpp.handlers import Context, Handlers, iso_time
from bot.ocpp.v201 import frames as frames201
from bot.ocpp.v201 import reservations as reservations201
from bot.ocpp.v201.billing import Billing as Billing201
from bot.ocpp.v201.commands import TriggerableMessage as Triggerable201
from bot.ocpp.v201.commands import profile_from_16
from bot.ocpp.v201.control import Control as Control201
from bot.ocpp.v201.handlers import Context201
from bot.ocpp.v201.handlers import Handlers as Handlers201
from bot.ports import ChargerEvents
from bot.store import Database
from bot.store.chargers import ChargerStore
from bot.store.meter_log import MeterLog
from bot.store.ocpp201 import Ocpp201Store
from bot.store.transactions import TransactionRow, TransactionStore

__all__ = ["HARD_FRAME_LIMIT", "MAX_FRAME_CHARS", "SUBPROTOCOL", "SUBPROTOCOL_201", "CentralSystem"]

log = logging.getLogger("bot.ocpp")

T = TypeVar("T")
SUBPROTOCOL = Subprotocol("ocpp1.6")
SUBPROTOCOL_201 = Subprotocol("ocpp2.0.1")
_SUBPROTOCOLS = {"1.6": SUBPROTOCOL, "2.0.1": SUBPROTOCOL_201}
# The 1.6 TriggerMessage requests that a 2.0.1 station understands the same way.
_TRIGGERABLE_201: dict[str, Triggerable201] = {
    "BootNotification": "BootNotification",
    "FirmwareStatusNotification": "FirmwareStatusNotification",
    "Heartbeat": "Heartbeat",
    "MeterValues": "MeterValues",
    "StatusNotification": "StatusNotification",
}
# Frames up to MAX_FRAME_CHARS are handled; bigger ones get a FormationViolation and the
# connection stays up; beyond HARD_FRAME_LIMIT bytes websockets closes it (1009), because
# it would have to buffer the whole frame first. A 1.6 message with signed meter data is
# a few KiB.
MAX_FRAME_CHARS = 64 * 1024
HARD_FRAME_LIMIT = 1024 * 1024
_POWER_LIMIT_PROFILE_ID = 1302  # our one TxProfile per transaction (bot.sessions.edge)
ROUTINE_SUMMARY_S = 10.0  # the interval of bot.log.RoutineLines
SEEN_FLUSH_S = 60.0  # Heartbeat times are not billing data: one write a minute for all
# A wave of connects: at least this many in the current or the last second. Then other
# work (status events) steps back until the BootNotifications are answered.
WAVE_CONNECTS_PER_S = 20


class CentralSystem:
    name = "ocpp"

    def __init__(
        self,
        config: Config,
        db: Database,
        events: ChargerEvents,
        *,
        clock: Callable[[], float] = time.time,
        call_timeout: float = 30.0,
        max_frame_chars: int = MAX_FRAME_CHARS,
    ) -> None:
        self._config = config
        self._events = events
        self._clock = clock
        self._call_timeout = call_timeout
        self._max_frame = max_frame_chars
        self._passwords = {c.id: c.ocpp_password for c in config.chargers}
        self._pubkeys = {c.id: c.keys.public_key_hex for c in config.chargers}
        self._pinned = {c.id: c.ocpp_version for c in config.chargers if c.ocpp_version}
        self.meter_log = MeterLog(db)
        self.chargers = ChargerStore(db)
        self.transactions = TransactionStore(db, self.meter_log)
        self._context = Context(
            config, self.chargers, self.transactions, self.meter_log, events, clock
        )
        self._handlers = Handlers(self._context, Billing(self._context).handlers())
        store201 = Ocpp201Store(db, self.meter_log)
        context201 = Context201(self._context, store201)
        self._handlers201 = Handlers201(context201, Billing201(context201).handlers())
        self.v201 = Control201(self.send, store201, clock)
        self._connections: dict[str, ChargerConnection] = {}
        self._wave_second = 0  # int(clock) of the connects being counted
        self._wave_now = 0  # connects in that second
        self._wave_before = 0  # connects in the second before it
        self._listening = asyncio.Event()
        self.port: int | None = None

    async def started(self) -> int:
        """Wait until the server listens; return its port (useful with ``listen = ...:0``)."""
        await self._listening.wait()
        assert self.port is not None
        return self.port

    async def run(self) -> None:
        await self.chargers.all_offline()
        listen = self._config.ocpp.listen
        async with serve(
            self._serve_charger,
            listen.host,
            listen.port,
            subprotocols=[SUBPROTOCOL_201, SUBPROTOCOL],
            select_subprotocol=self._select_subprotocol,
            process_request=self._process_request,
            # permessage-deflate costs ~40 KB per idle connection; OCPP frames are small.
            compression=None,
            max_size=HARD_FRAME_LIMIT,
            ssl=self._tls(),
            logger=RedactingLog("bot.ocpp.websockets"),
        ) as server:
            self.port = int(server.sockets[0].getsockname()[1])
            scheme = "wss" if self._config.ocpp.tls_cert else "ws"
            log.info(
                "OCPP central system on %s://%s:%d/ocpp/<charger-id>",
                scheme,
                listen.host,
                self.port,
            )
            self._listening.set()
            try:
                async with asyncio.TaskGroup() as group:
                    group.create_task(self._flush_seen(), name="ocpp-last-seen")
                    group.create_task(self._summarise_routine(), name="ocpp-log-summary")
                    await server.serve_forever()
            finally:
                self._listening.clear()
                await self._flush_seen_once()

    async def _flush_seen(self) -> None:
        """Heartbeat times reach the database once a minute, all in one transaction."""
        while True:
            await asyncio.sleep(SEEN_FLUSH_S)
            await self._flush_seen_once()

    async def _summarise_routine(self) -> None:
        """The counts of routine lines not logged one by one, once an interval."""
        while True:
            await asyncio.sleep(ROUTINE_SUMMARY_S)
            self._context.routine.summary()

    async def _flush_seen_once(self) -> None:
        try:
            await self.chargers.flush_seen()
        except Exception:  # kept in memory for the next flush; never stops the server
            log.exception("writing last_seen times failed")

    def _select_subprotocol(
        self, connection: ServerConnection, offered: Sequence[Subprotocol]
    ) -> Subprotocol | None:
        """The charger's first offer we speak, or the version its identity file pins."""
        request = connection.request
        decision = (
            admit(request.path, request.headers.get("Authorization"), self._passwords)
            if request
            else None
        )
        charger_id = decision.charger_id if isinstance(decision, Admitted) else None
        pinned = self._pinned.get(charger_id or "")
        wanted = [_SUBPROTOCOLS[pinned]] if pinned else [SUBPROTOCOL_201, SUBPROTOCOL]
        for name in offered:
            if name in wanted:
                return name
        if not offered and pinned in (None, "1.6"):
            return None  # quirk: some 1.6 chargers send no Sec-WebSocket-Protocol at all
        served, offers = " or ".join(wanted), ", ".join(offered) or "none"
        raise NegotiationError(f"{charger_id or 'this charger'} speaks {served}, offered: {offers}")

    def _tls(self) -> ssl.SSLContext | None:
        ocpp = self._config.ocpp
        if ocpp.tls_cert is None or ocpp.tls_key is None:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(ocpp.tls_cert, ocpp.tls_key)
        return context

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        if request.path.split("?", 1)[0] == "/healthz":
            body = json.dumps({"status": "ok", "chargers_online": len(self._connections)})
            response = connection.respond(HTTPStatus.OK, body + "\n")
            del response.headers["Content-Type"]  # respond() made it text/plain
            response.headers["Content-Type"] = "application/json"
            return response
        decision = admit(request.path, request.headers.get("Authorization"), self._passwords)
        if isinstance(decision, Refused):
            log.warning(
                "refused %s from %s: %s", request.path[:80], _peer(connection), decision.reason
            )
            response = connection.respond(decision.status, f"{decision.status.phrase}\n")
            if decision.challenge:
                response.headers["WWW-Authenticate"] = 'Basic realm="zapcharge OCPP"'
            return response
        return None

    async def _serve_charger(self, websocket: ServerConnection) -> None:
        request = websocket.request
        assert request is not None
        decision = admit(request.path, request.headers.get("Authorization"), self._passwords)
        assert isinstance(decision, Admitted)  # _process_request refused everything else
        charger_id = decision.charger_id
        clog = charger_log(log, charger_id)
        if websocket.subprotocol is None:
            clog.warning("connected without the ocpp1.6 subprotocol; speaking OCPP 1.6 anyway")
        handlers = self._handlers201 if websocket.subprotocol == SUBPROTOCOL_201 else self._handlers
        connection = ChargerConnection(
            charger_id,
            websocket,
            answer=lambda call, raw: handlers.handle(charger_id, call, raw),
            refused=lambda error, raw: self._frame_refused(charger_id, error, raw),
            max_frame_chars=self._max_frame,
            log=clog,
            dialect=frames201.DIALECT if handlers is self._handlers201 else OCPP16,
        )
        self._count_connect()
        previous = self._connections.get(charger_id)
        self._connections[charger_id] = connection
        await self._set_online(charger_id, True)
        try:
            async with asyncio.TaskGroup() as group:
                if previous is not None:
                    # The old socket is most likely half-dead (NAT timeout, modem reset): the
                    # newer wins, and is served while the old one's close handshake times out.
                    clog.warning("new connection replaces the previous one")
                    group.create_task(previous.close())
                reconcile = group.create_task(self._reconcile(connection))
                try:
                    await connection.run(drain_timeout=self._call_timeout)
                finally:
                    reconcile.cancel()
        finally:
            if self._connections.get(charger_id) is connection:
                del self._connections[charger_id]
                await self._set_online(charger_id, False)

    def _count_connect(self) -> None:
        second = int(self._clock())
        if second != self._wave_second:
            self._wave_before = self._wave_now if second == self._wave_second + 1 else 0
            self._wave_second, self._wave_now = second, 0
        self._wave_now += 1

    def connect_wave(self) -> bool:
        """True while many chargers connect at once (a start, a storm): OCPP's time."""
        second = int(self._clock())
        if second == self._wave_second:
            return max(self._wave_now, self._wave_before) >= WAVE_CONNECTS_PER_S
        if second == self._wave_second + 1:
            return self._wave_now >= WAVE_CONNECTS_PER_S
        return False

    async def _set_online(self, charger_id: str, online: bool) -> None:
        clog = charger_log(log, charger_id)
        state = "online" if online else "offline"
        self._context.routine.info(clog, state, state)
        try:
            if online:
                await self.chargers.connected(charger_id, self._pubkeys[charger_id], self._clock())
            else:
                await self.chargers.disconnected(charger_id, self._clock())
            await self._events.charger_online(charger_id, online)
        except Exception:
            clog.exception("recording %s failed", "online" if online else "offline")

    async def _reconcile(self, connection: ChargerConnection) -> None:
        """After a (re)connect, ask for the state of each connector with an open transaction.

        The answer comes as StatusNotification, which goes to the events like any other;
        late StopTransaction and readings are matched by transaction id whenever they come.
        """
        await connection.first_message.wait()
        charger_id = connection.charger_id
        clog = charger_log(log, charger_id)
        if connection.dialect.version == frames201.VERSION:
            await self.v201.reconcile(charger_id, await self.transactions.open_of(charger_id))
            return
        for row in await self.transactions.open_of(charger_id):
            clog.info(
                "reconnected with transaction %d open on connector %d", row.id, row.connector_id
            )
            try:
                await self.trigger_message(charger_id, "StatusNotification", row.connector_id)
            except Exception as error:  # a failed reconcile must not take the connection down
                clog.warning("could not ask for connector %d status: %s", row.connector_id, error)

    async def _frame_refused(self, charger_id: str, error: FrameError, raw: str) -> None:
        clog = charger_log(log, charger_id)
        connection = self._connections.get(charger_id)
        code = connection.dialect.code(error.code) if connection else error.code
        clog.warning("bad frame %s: %s %s", error.unique_id, code, error.description)
        try:
            await self.chargers.record_anomaly(
                charger_id,
                at=self._clock(),
                kind="refused" if error.reply else "bad answer",
                detail=error.description,
                raw=raw,
                unique_id=error.unique_id,
                code=code,
            )
        except Exception:
            clog.exception("could not record the bad frame")

    async def fleet_changed(
        self, serving: Sequence[ChargerConfig], known: Sequence[ChargerConfig]
    ) -> None:
        """:class:`~bot.ports.FleetListener`: admit every known charger (a removed one still
        finishes its sessions); one that is gone is disconnected and refused from now on."""
        del serving
        self._config = replace(self._config, chargers=tuple(known))
        self._context.config = self._config  # handlers check connectors against it
        self._passwords = {c.id: c.ocpp_password for c in known}
        self._pubkeys = {c.id: c.keys.public_key_hex for c in known}
        for charger_id in [cid for cid in self._connections if cid not in self._passwords]:
            charger_log(log, charger_id).info("no longer configured: disconnecting")
            await self._connections[charger_id].close()

    # -- commands ---------------------------------------------------------------------------

    def is_online(self, charger_id: str) -> bool:
        connection = self._connections.get(charger_id)
        return connection is not None and not connection.closed

    def online_chargers(self) -> list[str]:
        return sorted(self._connections)

    def protocol_of(self, charger_id: str) -> str | None:
        """The OCPP version a connected charger speaks ("1.6", "2.0.1"); None when offline."""
        connection = self._connections.get(charger_id)
        return None if connection is None or connection.closed else connection.dialect.version

    async def open_transactions(self, charger_id: str) -> list[TransactionRow]:
        return await self.transactions.open_of(charger_id)

    async def send(self, charger_id: str, command: commands.Command[T]) -> T:
        """Send one command and return its typed result; see the module docstring."""
        connection = self._connections.get(charger_id)
        if connection is None or connection.closed:
            raise ChargerOffline(f"{charger_id} is not connected")
        version = connection.dialect.version
        if command.version != version:
            raise OcppError(
                f"{command.action} is OCPP {command.version}; {charger_id} speaks {version}"
            )
        check = frames201.schema_error if version == frames201.VERSION else schema_error
        invalid = check(MessageType.CALL, command.action, command.payload)
        if invalid is not None:
            raise OcppError(f"{command.action} not sent: {invalid.description}", invalid.code)
        try:
            async with asyncio.timeout(self._call_timeout):
                answer = await connection.call(command.action, command.payload)
        except TimeoutError:
            raise OcppError(
                f"{command.action}: no answer from {charger_id} in {self._call_timeout:g} s"
            ) from None
        invalid = check(MessageType.CALLRESULT, command.action, answer)
        if invalid is not None:
            raise OcppError(
                f"{command.action}: invalid answer: {invalid.description}", invalid.code
            )
        result = command.parse(answer)
        charger_log(log, charger_id).info("%s -> %s", command.action, answer.get("status", "ok"))
        return result

    def _speaks_201(self, charger_id: str) -> bool:
        return self.protocol_of(charger_id) == frames201.VERSION

    async def remote_start(self, charger_id: str, connector_id: int, id_tag: str) -> bool:
        if self._speaks_201(charger_id):
            return await self.v201.remote_start(charger_id, connector_id, id_tag)
        self._context.remote_starts.sent(charger_id, id_tag, connector_id, self._clock())
        status = await self.send(charger_id, commands.remote_start(connector_id, id_tag))
        return status == "Accepted"

    async def remote_stop(self, charger_id: str, transaction_id: int) -> bool:
        if self._speaks_201(charger_id):
            return await self.v201.remote_stop(charger_id, transaction_id)
        return await self.send(charger_id, commands.remote_stop(transaction_id)) == "Accepted"

    async def set_sample_interval(self, charger_id: str, seconds: int) -> bool:
        """Only Accepted counts: RebootRequired would not shorten this session's samples."""
        if self._speaks_201(charger_id):
            return await self.v201.set_sample_interval(charger_id, seconds)
        status = await self.change_configuration(
            charger_id, "MeterValueSampleInterval", str(seconds)
        )
        return status == "Accepted"

    async def get_configuration(
        self, charger_id: str, keys: Sequence[str] = ()
    ) -> commands.Configuration:
        return await self.send(charger_id, commands.get_configuration(keys))

    async def change_configuration(
        self, charger_id: str, key: str, value: str
    ) -> commands.ConfigurationStatus:
        return await self.send(charger_id, commands.change_configuration(key, value))

    async def trigger_message(
        self, charger_id: str, message: commands.TriggerableMessage, connector_id: int | None = None
    ) -> commands.TriggerStatus:
        if self._speaks_201(charger_id) and message in _TRIGGERABLE_201:
            wanted = _TRIGGERABLE_201[message]
            return await self.v201.trigger_message(charger_id, wanted, connector_id or None)
        return await self.send(charger_id, commands.trigger_message(message, connector_id))

    async def unlock_connector(self, charger_id: str, connector_id: int) -> str:
        """:class:`~bot.ports.ChargerOperations`; a 2.0.1 station: that EVSE's connector 1
        (our connector ids are its EVSE ids, as for RequestStartTransaction)."""
        if self._speaks_201(charger_id):
            return await self.v201.unlock_connector(charger_id, connector_id)
        return await self.send(charger_id, commands.unlock_connector(connector_id))

    async def reset(self, charger_id: str, kind: Literal["Soft", "Hard"] = "Soft") -> str:
        """A 2.0.1 station: Soft is OnIdle (after its transactions), Hard is Immediate."""
        if self._speaks_201(charger_id):
            return await self.v201.reset(charger_id, "Immediate" if kind == "Hard" else "OnIdle")
        return await self.send(charger_id, commands.reset(kind))

    async def change_availability(self, charger_id: str, connector_id: int, operative: bool) -> str:
        """Connector 0 is the whole charger (a 2.0.1 station: no EVSE given)."""
        if self._speaks_201(charger_id):
            return await self.v201.change_availability(charger_id, operative, connector_id or None)
        return await self.send(charger_id, commands.change_availability(connector_id, operative))

    async def limit_power(
        self, charger_id: str, connector_id: int, transaction_id: int, limit_w: int
    ) -> bool:
        """A TxProfile capping this transaction at ``limit_w``; a newer cap replaces it
        (same profile id and stack level, OCPP 1.6 section 3.13.2)."""
        profile = commands.power_limit_profile(
            _POWER_LIMIT_PROFILE_ID, limit_w, transaction_id=transaction_id
        )
        status = await self.set_charging_profile(charger_id, connector_id, profile)
        return status == "Accepted"

    async def set_charging_profile(
        self, charger_id: str, connector_id: int, profile: dict[str, object]
    ) -> commands.ChargingProfileStatus:
        """``profile`` in 1.6 words; for a 2.0.1 station it is converted (transaction ids too)."""
        if self._speaks_201(charger_id):
            transaction_id = profile.get("transactionId")
            charger_tx = (
                await self.v201.charger_tx_id(transaction_id)
                if isinstance(transaction_id, int)
                else None
            )
            converted = profile_from_16(profile, charger_tx)
            return await self.v201.set_charging_profile(charger_id, connector_id, converted)
        return await self.send(charger_id, commands.set_charging_profile(connector_id, profile))

    async def reserve_now(
        self, charger_id: str, connector_id: int, *, until: float, id_tag: str, reservation_id: int
    ) -> str:
        """Connector ids on the seam are 2.0.1 EVSE ids, as for remote_start."""
        if self._speaks_201(charger_id):
            command201 = reservations201.reserve_now(
                connector_id, iso_time(until), id_tag, reservation_id
            )
            return str(await self.send(charger_id, command201))
        command = commands.reserve_now(connector_id, iso_time(until), id_tag, reservation_id)
        return await self.send(charger_id, command)

    async def cancel_reservation(self, charger_id: str, reservation_id: int) -> bool:
        if self._speaks_201(charger_id):
            command = reservations201.cancel_reservation(reservation_id)
        else:
            command = commands.cancel_reservation(reservation_id)
        return str(await self.send(charger_id, command)) == "Accepted"


def _peer(connection: ServerConnection) -> str:
    address = connection.remote_address
    return f"{address[0]}:{address[1]}" if address else "?"
