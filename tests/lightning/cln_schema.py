"""Core Lightning's JSON schemas (``shared/specs/cln-schemas``) as validators, for contract tests.

CLN's schemas are JSON-Schema draft 7 plus custom type names. Like CLN's own test suite
(pyln-testing's ``_extra_validator``), a request ``msat`` may be an integer or a string
with a unit, while a response ``msat`` must be a plain non-negative integer.
"""

from __future__ import annotations

import json
import os
import re
import string
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

__all__ = [
    "check_wire_log",
    "find_schema_dir",
    "load_schema",
    "request_params",
    "validate_request",
    "validator",
]

_UNIT = re.compile(r"^(\d+)(msat|sat)?$|^(\d+\.\d{3})sat$|^(\d+\.\d{1,11})btc$")


def find_schema_dir() -> Path:
    """``$ZAPCHARGE_CLN_SCHEMAS``, ``shared/specs/cln-schemas`` beside an ancestor, or the
    copy kept in this repository (``cln-schemas/`` beside this file)."""
    override = os.environ.get("ZAPCHARGE_CLN_SCHEMAS")
    if override:
        return Path(override)
    for ancestor in Path(__file__).resolve().parents:
        candidate = ancestor / "shared" / "specs" / "cln-schemas"
        if candidate.is_dir():
            return candidate
    return Path(__file__).with_name("cln-schemas")


@cache
def load_schema(method: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((find_schema_dir() / f"{method}.json").read_text())
    return data


def _is_hex(instance: Any) -> bool:
    return (
        isinstance(instance, str)
        and len(instance) % 2 == 0
        and all(c in string.hexdigits for c in instance)
    )


def _is_int_below(bits: int) -> Callable[[Any, Any], bool]:
    def check(checker: Any, instance: Any) -> bool:
        return type(instance) is int and 0 <= instance < 2**bits

    return check


def _is_msat_request(checker: Any, instance: Any) -> bool:
    if type(instance) is int:
        return instance >= 0
    return isinstance(instance, str) and _UNIT.match(instance) is not None


def _is_msat_response(checker: Any, instance: Any) -> bool:
    return type(instance) is int and instance >= 0


def _is_scid(checker: Any, instance: Any) -> bool:
    if not isinstance(instance, str):
        return False
    parts = instance.split("x")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        return False
    block, tx, out = map(int, parts)
    return block < 2**24 and tx < 2**24 and out < 2**16


def _type_checker(request: bool) -> Any:
    hex32: Callable[[Any, Any], bool] = lambda _, v: _is_hex(v) and len(v) == 64  # noqa: E731
    msat = _is_msat_request if request else _is_msat_response
    return jsonschema.Draft7Validator.TYPE_CHECKER.redefine_many(
        {
            "hex": lambda _, v: _is_hex(v),
            "hash": hex32,
            "secret": hex32,
            "txid": hex32,
            "u64": _is_int_below(64),
            "u32": _is_int_below(32),
            "u16": _is_int_below(16),
            "u8": _is_int_below(8),
            "pubkey": lambda _, v: _is_hex(v) and len(v) == 66 and v[:2] in ("02", "03"),
            "signature": lambda _, v: _is_hex(v) and len(v) <= 144,
            "bip340sig": lambda _, v: _is_hex(v) and len(v) == 128,
            "msat": msat,
            "msat_or_any": lambda c, v: v == "any" or msat(c, v),
            "short_channel_id": _is_scid,
            "short_channel_id_dir": lambda c, v: (
                isinstance(v, str) and v[-2:] in ("/0", "/1") and _is_scid(c, v[:-2])
            ),
        }
    )


_VALIDATORS = {
    is_request: jsonschema.validators.extend(
        jsonschema.Draft7Validator, type_checker=_type_checker(is_request)
    )
    for is_request in (True, False)
}


def validator(method: str, *, request: bool) -> Any:
    schema = load_schema(method)["request" if request else "response"]
    return _VALIDATORS[request](schema)


def request_params(method: str, params: Any) -> dict[str, Any]:
    """Positional params as lightningd binds them: in the order the schema lists them."""
    if isinstance(params, dict):
        return params
    names = list(load_schema(method)["request"].get("properties", {}))
    return dict(zip(names, params, strict=False))


def validate_request(method: str, params: Any) -> None:
    validator(method, request=True).validate(request_params(method, params))


def check_wire_log(path: Path) -> list[str]:
    """Validate every exchange a simulated node logged; return the CLN methods seen.

    ``dev-simnode-*`` methods are the simulation's own and have no schema. A request the
    node refused as invalid (-32602) is not held to the request schema: tests send such
    requests on purpose.
    """
    seen: list[str] = []
    if not path.exists():
        return seen
    for line in path.read_text(encoding="utf-8").splitlines():
        exchange = json.loads(line)
        method = exchange["method"]
        if method.startswith("dev-simnode-"):
            continue
        if not (find_schema_dir() / f"{method}.json").exists():
            assert exchange["error"]["code"] == -32601, exchange  # "Unknown command"
            continue
        seen.append(method)
        refused = exchange.get("error", {}).get("code") == -32602  # the node said "bad params"
        if not refused:
            validate_request(method, exchange["params"])
        if "result" in exchange:
            validator(method, request=False).validate(exchange["result"])
        elif "error" in exchange:
            error = exchange["error"]
            assert type(error["code"]) is int and isinstance(error["message"], str), exchange
    return seen
