"""A websocket client written by hand on asyncio's Protocol, for the fleet load generator.

It must cost far less than either server it measures, so it does the least RFC 6455
allows: the opening handshake as one prepared HTTP request, client frames masked with the
all-zero key (legal, and the payload needs no XOR), no extensions, pongs for pings,
"Accepted" to the central system's own CALLs, and one OCPP CALL in flight per charger
(closed request/response loop). Answers are checked by
prefix (``[3,"<id>"``), not parsed, except where the load generator needs a field.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import struct
from collections import deque
from typing import Any

__all__ = ["Charger", "Closed", "answer_payload", "connect", "text_frame"]

_OP_TEXT, _OP_CLOSE, _OP_PING, _OP_PONG = 0x1, 0x8, 0x9, 0xA
_ZERO_MASK = b"\x00\x00\x00\x00"


class Closed(Exception):
    """The server closed the connection (``code`` None: no close frame, the TCP just ended)."""

    def __init__(self, code: int | None, during: str) -> None:
        super().__init__(f"closed ({code}) during {during}")
        self.code = code
        self.during = during


def text_frame(payload: bytes, opcode: int = _OP_TEXT) -> bytes:
    """A final, masked client frame; the zero mask leaves the payload as it is."""
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    return head + _ZERO_MASK + payload


class Charger(asyncio.Protocol):
    """One charger's connection: ``call`` sends one frame and returns the answer's text."""

    def __init__(self, request: bytes) -> None:
        self._request = request
        self._buffer = bytearray()
        self._upgraded = False
        self.handshake: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._answers: deque[asyncio.Future[bytes]] = deque()
        self._transport: asyncio.Transport | None = None
        self.close_code: int | None = None
        self.closed = False

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        transport.write(self._request)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if not self._upgraded:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            status = int(self._buffer[9:12])
            del self._buffer[: end + 4]
            self._upgraded = status == 101
            if not self.handshake.done():
                self.handshake.set_result(status)
            if not self._upgraded:
                self.abort()
                return
        self._frames()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.handshake.done():
            self.handshake.set_exception(Closed(None, "handshake"))
        while self._answers:
            waiter = self._answers.popleft()
            if not waiter.done():
                waiter.set_exception(Closed(self.close_code, "call"))

    # -- frames ----------------------------------------------------------------------------

    def _frames(self) -> None:
        buffer = self._buffer
        while len(buffer) >= 2:
            opcode, length = buffer[0] & 0x0F, buffer[1] & 0x7F
            start = 2
            if length == 126:
                if len(buffer) < 4:
                    return
                length, start = struct.unpack_from("!H", buffer, 2)[0], 4
            elif length == 127:
                if len(buffer) < 10:
                    return
                length, start = struct.unpack_from("!Q", buffer, 2)[0], 10
            if len(buffer) < start + length:
                return
            payload = bytes(buffer[start : start + length])
            del buffer[: start + length]
            self._frame(opcode, payload)

    def _frame(self, opcode: int, payload: bytes) -> None:
        if opcode == _OP_TEXT:
            if payload.startswith(b"[2,"):
                self._answer_server_call(payload)
            elif self._answers:
                waiter = self._answers.popleft()
                if not waiter.done():
                    waiter.set_result(payload)
        elif opcode == _OP_PING:
            self._write(text_frame(payload, _OP_PONG))
        elif opcode == _OP_CLOSE:
            self.close_code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
            self._write(text_frame(payload[:2], _OP_CLOSE))
            if self._transport is not None:
                self._transport.close()

    def _answer_server_call(self, payload: bytes) -> None:
        """The central system asks something (TriggerMessage after a reconnect): say yes."""
        try:
            unique_id = json.loads(payload)[1]
        except (ValueError, IndexError):
            return
        answer = json.dumps([3, unique_id, {"status": "Accepted"}]).encode()
        self._write(text_frame(answer))

    def _write(self, data: bytes) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)

    # -- use -------------------------------------------------------------------------------

    async def call(self, frame: bytes) -> bytes:
        """Send one prepared frame (see :func:`text_frame`) and wait for the next text frame."""
        if self.closed:
            raise Closed(self.close_code, "call")
        waiter: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._answers.append(waiter)
        self._write(frame)
        return await waiter

    def abort(self) -> None:
        """Drop the TCP connection at once (RST, no close frame), as a modem reset does."""
        if self._transport is None:
            return
        sock = self._transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self._transport.abort()

    def close(self) -> None:
        self._write(text_frame(struct.pack("!H", 1000), _OP_CLOSE))
        if self._transport is not None:
            self._transport.close()


def _request(host: str, port: int, path: str, user: str, password: str) -> bytes:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        f"Sec-WebSocket-Protocol: ocpp1.6\r\nAuthorization: Basic {token}\r\n\r\n"
    ).encode()


async def connect(host: str, port: int, path: str, user: str, password: str) -> Charger:
    """Open the TCP connection and finish the upgrade; raises Closed or OSError."""
    loop = asyncio.get_running_loop()
    _, charger = await loop.create_connection(
        lambda: Charger(_request(host, port, path, user, password)), host, port
    )
    status = await charger.handshake
    if status != 101:
        raise Closed(status, "handshake")
    return charger


def answer_payload(answer: bytes) -> Any:
    """The payload of a CALLRESULT (parsed only where a field is needed)."""
    message = json.loads(answer)
    if message[0] != 3:
        raise ValueError(f"not a CALLRESULT: {answer[:120]!r}")
    return message[2]
