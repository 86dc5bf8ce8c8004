"""One charger's websocket: a thin pump between frames and the handlers.

Two tasks per connection, both owned by :meth:`ChargerConnection.run`: the reader parses
every frame, hands answers to our own CALLs straight to their waiting command, and queues
the charger's CALLs; the worker answers those CALLs one at a time, in order. Because the
reader never waits for a handler, a command sent while a handler runs still gets its
answer (a handler that waited on one would otherwise deadlock, as with the ``ocpp``
library's router).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from bot.errors import ChargerOffline, OcppError
from bot.ocpp.frames import (
    Call,
    CallError,
    CallResult,
    ErrorCode,
    FrameError,
    encode_call,
    encode_error,
    parse_frame,
    unique_id_of,
)
from bot.ocpp.values import storable

__all__ = ["MAX_QUEUED_CALLS", "OCPP16", "ChargerConnection", "Dialect"]

MAX_QUEUED_CALLS = 8  # a charger sends one CALL at a time; more is a misbehaving charger
Answer = Callable[[Call, str], Awaitable[str]]
Refused = Callable[[FrameError, str], Awaitable[None]]


@dataclass(frozen=True)
class Dialect:
    """How one OCPP-J version reads a frame and names the refusals of this pump.

    ``parse`` raises :class:`FrameError` with the code to answer; ``code`` turns the
    OCPP-J 1.6 codes used below (oversize, not UTF-8, busy) into the version's own names.
    """

    version: str
    parse: Callable[[str], Call | CallResult | CallError]
    code: Callable[[str], str]


OCPP16 = Dialect("1.6", parse_frame, lambda code: code)


class ChargerConnection:
    def __init__(
        self,
        charger_id: str,
        websocket: ServerConnection,
        *,
        answer: Answer,
        refused: Refused,
        max_frame_chars: int,
        log: logging.LoggerAdapter[logging.Logger],
        dialect: Dialect = OCPP16,
    ) -> None:
        self.charger_id = charger_id
        self.dialect = dialect
        self._ws = websocket
        self._answer = answer
        self._refused = refused
        self._max_frame = max_frame_chars
        self._log = log
        self._calls: asyncio.Queue[tuple[Call, str] | None] = asyncio.Queue()
        self._pending: dict[str, tuple[str, asyncio.Future[dict[str, Any]]]] = {}
        self._call_lock = asyncio.Lock()
        self._ids = itertools.count(1)
        self._id_prefix = f"{id(self):x}-"
        self.first_message = asyncio.Event()
        self.closed = False

    async def run(self, drain_timeout: float) -> None:
        """Serve the connection until it closes; the current CALL is finished, not cut off."""
        async with asyncio.TaskGroup() as group:
            worker = group.create_task(self._work(), name=f"ocpp-worker-{self.charger_id}")
            try:
                await self._read()
            finally:
                self.closed = True
                self._fail_pending()
                self._calls.put_nowait(None)
                await asyncio.wait([worker], timeout=drain_timeout)
                worker.cancel()

    async def close(self) -> None:
        await self._ws.close(code=1001, reason="replaced by a newer connection")

    async def call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Send a CALL and return the answer's payload. The caller bounds the time."""
        if self.closed:
            raise ChargerOffline(f"{self.charger_id} is not connected")
        async with self._call_lock:  # OCPP-J: one CALL of ours in flight per charger
            unique_id = f"{self._id_prefix}{next(self._ids)}"
            done: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
            self._pending[unique_id] = (action, done)
            try:
                await self._ws.send(encode_call(Call(unique_id, action, payload)))
                return await done
            except ConnectionClosed:
                raise ChargerOffline(f"{self.charger_id} disconnected during {action}") from None
            finally:
                self._pending.pop(unique_id, None)
                # The socket may close between send() and the await: _fail_pending has then
                # set an exception nobody reads ("Future exception was never retrieved").
                if done.done() and not done.cancelled():
                    done.exception()
                done.cancel()

    async def _read(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for message in self._ws:
                self.first_message.set()
                await self._take(message)

    async def _take(self, message: str | bytes) -> None:
        if isinstance(message, bytes):
            # OCPP-J is JSON in text frames. A binary frame is refused, not guessed at:
            # answering what we read into it would hide a charger bug from its operator.
            text = message[:200].decode("utf-8", "replace")
            error = FrameError(
                ErrorCode.FORMATION_VIOLATION,
                "OCPP-J messages are sent in text frames, not binary",
                unique_id_of(text),
            )
            await self._refuse(error, text)
            return
        if len(message) > self._max_frame:
            error = FrameError(
                ErrorCode.FORMATION_VIOLATION,
                f"frame of {len(message)} characters is over the {self._max_frame} limit",
                unique_id_of(message),
            )
            await self._refuse(error, message)
            return
        try:
            frame = self.dialect.parse(message)
        except FrameError as error:
            await self._refuse(error, message)
            return
        if isinstance(frame, Call):
            if self._calls.qsize() >= MAX_QUEUED_CALLS:
                busy = FrameError(
                    ErrorCode.GENERIC_ERROR, "too many CALLs waiting", frame.unique_id
                )
                await self._refuse(busy, message)
                return
            self._calls.put_nowait((frame, message))
        else:
            self._settle(frame)

    def _settle(self, frame: CallResult | CallError) -> None:
        pending = self._pending.get(frame.unique_id)
        if pending is None or pending[1].done():
            self._log.warning("answer to unknown or expired CALL %s ignored", frame.unique_id)
            return
        action, done = pending
        if isinstance(frame, CallResult):
            done.set_result(frame.payload)
        else:
            done.set_exception(
                OcppError(f"{action} refused: {frame.description or frame.code}", frame.code)
            )

    async def _refuse(self, error: FrameError, message: str) -> None:
        await self._refused(error, message)
        if not error.reply:
            pending = self._pending.get(error.unique_id)
            if pending is not None and not pending[1].done():
                pending[1].set_exception(
                    OcppError(f"{pending[0]}: malformed answer: {error.description}", error.code)
                )
            return
        with contextlib.suppress(ConnectionClosed):
            code = self.dialect.code(error.code)
            await self._ws.send(encode_error(error.unique_id, code, error.description))

    async def _work(self) -> None:
        while (item := await self._calls.get()) is not None:
            call, message = item
            try:
                reply = await self._answer(call, message)
            except Exception:
                # One CALL that we fail on must not end the worker, and with it the
                # connection and every other CALL in flight.
                self._log.exception("%s %s failed", storable(call.action), call.unique_id)
                reply = encode_error(
                    call.unique_id, ErrorCode.INTERNAL_ERROR, "the call could not be processed"
                )
            if self.closed:
                self._log.info("%s answered after the connection closed", call.action)
                continue
            with contextlib.suppress(ConnectionClosed):
                await self._ws.send(reply)

    def _fail_pending(self) -> None:
        for action, done in self._pending.values():
            if not done.done():
                done.set_exception(
                    ChargerOffline(f"{self.charger_id} disconnected during {action}")
                )
