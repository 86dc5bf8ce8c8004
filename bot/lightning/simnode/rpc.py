"""Core Lightning's JSON-RPC wire format, without I/O.

lightningd reads requests that are concatenated JSON objects with no delimiter (pyln-client
sends exactly that) and ends every reply with ``"\\n\\n"``, which pyln-client splits on.
:class:`RequestParser` is fed bytes and hands back complete requests; :func:`encode_reply`
frames one reply. :func:`bind_params` turns positional or named ``params`` into a dict the
way lightningd does, refusing unknown names.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

__all__ = [
    "INVALID_PARAMS",
    "INVALID_REQUEST",
    "METHOD_NOT_FOUND",
    "PARSE_ERROR",
    "Request",
    "RequestParser",
    "RpcFault",
    "bind_params",
    "encode_reply",
    "parse_msat",
]

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602


class RpcFault(Exception):
    """An error reply: ``code`` and ``message`` as lightningd would send them."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(f"{message} ({code})")
        self.code, self.message, self.data = code, message, data

    def as_json(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


@dataclass(frozen=True)
class Request:
    id: Any
    method: str
    params: Any  # a list or a dict, as sent


class RequestParser:
    """Incremental parser: ``feed`` bytes, get every request that is now complete."""

    def __init__(self, max_buffer: int = 1 << 20) -> None:
        self._buffer = ""
        self._pending = b""  # an incomplete UTF-8 sequence at the end of a read
        self._decoder = json.JSONDecoder()
        self._max_buffer = max_buffer

    def feed(self, data: bytes) -> list[Request | RpcFault]:
        text = self._decode(data)
        self._buffer += text
        if len(self._buffer) > self._max_buffer:
            raise RpcFault(PARSE_ERROR, "request too large")
        found: list[Request | RpcFault] = []
        while True:
            self._buffer = self._buffer.lstrip()
            if not self._buffer:
                return found
            try:
                obj, end = self._decoder.raw_decode(self._buffer)
            except json.JSONDecodeError as exc:
                # An error within the last few characters (a cut-off "fals", a number, a
                # missing brace) or an open string means the object is still arriving.
                if len(self._buffer) - exc.pos <= 5 or exc.msg.startswith("Unterminated"):
                    return found
                raise RpcFault(PARSE_ERROR, f"invalid JSON: {exc.msg}") from None
            self._buffer = self._buffer[end:]
            found.append(_request_of(obj))

    def _decode(self, data: bytes) -> str:
        data = self._pending + data
        for cut in range(4):  # keep at most 3 trailing bytes of a split character
            try:
                text = data[: len(data) - cut].decode("utf-8")
            except UnicodeDecodeError:
                continue
            self._pending = data[len(data) - cut :]
            return text
        raise RpcFault(PARSE_ERROR, "request is not UTF-8")


def _request_of(obj: Any) -> Request | RpcFault:
    if not isinstance(obj, dict):
        return RpcFault(INVALID_REQUEST, "request must be a JSON object")
    method, params = obj.get("method"), obj.get("params", {})
    if not isinstance(method, str) or "id" not in obj:
        return RpcFault(INVALID_REQUEST, "request needs 'method' and 'id'")
    if not isinstance(params, list | dict):
        return RpcFault(INVALID_PARAMS, "params must be an array or an object")
    return Request(obj["id"], method, params)


def encode_reply(request_id: Any, result: Any = None, error: RpcFault | None = None) -> bytes:
    body: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id}
    if error is not None:
        body["error"] = error.as_json()
    else:
        body["result"] = result
    return json.dumps(body, ensure_ascii=False).encode("utf-8") + b"\n\n"


def bind_params(
    params: Sequence[Any] | Mapping[str, Any], names: Sequence[str], required: Sequence[str]
) -> dict[str, Any]:
    """Named parameters, from either form; ``null`` counts as absent (pyln drops None)."""
    if isinstance(params, Mapping):
        unknown = sorted(set(params) - set(names))
        if unknown:
            raise RpcFault(INVALID_PARAMS, f"unknown parameter: '{unknown[0]}'")
        bound = {k: v for k, v in params.items() if v is not None}
    else:
        if len(params) > len(names):
            raise RpcFault(INVALID_PARAMS, f"too many parameters: got {len(params)}")
        bound = {n: v for n, v in zip(names, params, strict=False) if v is not None}
    for name in required:
        if name not in bound:
            raise RpcFault(INVALID_PARAMS, f"missing required parameter: '{name}'")
    return bound


def parse_msat(value: Any, name: str) -> int:
    """CLN's request ``msat``: an integer, or a string ending in msat, sat or btc."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str):
        number, scale = value, 1
        for suffix, factor in (("msat", 1), ("sat", 1000), ("btc", 100_000_000_000)):
            if value.endswith(suffix):
                number, scale = value[: -len(suffix)], factor
                break
        try:
            amount = Decimal(number) * scale
        except InvalidOperation:
            amount = Decimal(-1)
        if amount >= 0 and amount == amount.to_integral_value():
            return int(amount)
    raise RpcFault(INVALID_PARAMS, f"'{name}' should be a millisatoshi amount, not {value!r}")
