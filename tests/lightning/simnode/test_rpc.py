from __future__ import annotations

import json

import pytest

from bot.lightning.simnode.rpc import (
    INVALID_PARAMS,
    PARSE_ERROR,
    Request,
    RequestParser,
    RpcFault,
    bind_params,
    encode_reply,
    parse_msat,
)

REQUEST = {"jsonrpc": "2.0", "id": "x:1", "method": "invoice", "params": {"label": "€ 1"}}


def test_requests_without_delimiters_split_anywhere() -> None:
    wire = (json.dumps(REQUEST, ensure_ascii=False) * 2).encode()
    parser = RequestParser()
    found = []
    for i in range(len(wire)):  # byte by byte, through the multi-byte euro sign too
        found += parser.feed(wire[i : i + 1])
    assert found == [Request("x:1", "invoice", {"label": "€ 1"})] * 2


def test_a_cut_off_literal_waits_for_more() -> None:
    parser = RequestParser()
    assert parser.feed(b'{"id": 1, "method": "m", "params": {"a": fal') == []
    assert parser.feed(b"se}}") == [Request(1, "m", {"a": False})]


def test_bad_input_is_reported() -> None:
    with pytest.raises(RpcFault) as caught:
        RequestParser().feed(b'{"id": 1, "method": ] "m" and more text here}')
    assert caught.value.code == PARSE_ERROR
    [fault] = RequestParser().feed(b'{"method": "m"}')
    assert isinstance(fault, RpcFault) and fault.code == -32600
    [fault] = RequestParser().feed(b'{"id": 1, "method": "m", "params": 3}')
    assert isinstance(fault, RpcFault) and fault.code == INVALID_PARAMS


def test_replies_end_with_two_newlines() -> None:
    reply = encode_reply("x:1", {"ok": True})
    assert reply.endswith(b"\n\n") and json.loads(reply)["result"] == {"ok": True}
    error = json.loads(encode_reply(7, error=RpcFault(900, "Duplicate label 'l'")))
    assert error["error"] == {"code": 900, "message": "Duplicate label 'l'"}


def test_params_bind_by_position_or_name() -> None:
    names, required = ("a", "b", "c"), ("a",)
    assert bind_params([1, None, 3], names, required) == {"a": 1, "c": 3}
    assert bind_params({"a": 1, "b": None}, names, required) == {"a": 1}
    for bad in ({"b": 1}, {"a": 1, "zzz": 2}, [1, 2, 3, 4]):
        with pytest.raises(RpcFault) as caught:
            bind_params(bad, names, required)
        assert caught.value.code == INVALID_PARAMS


@pytest.mark.parametrize(
    ("text", "msat"),
    [
        (1500, 1500),
        ("1500msat", 1500),
        ("2sat", 2000),
        ("1.500sat", 1500),
        ("0.001btc", 100_000_000),
    ],
)
def test_msat_amounts(text: object, msat: int) -> None:
    assert parse_msat(text, "amount_msat") == msat


@pytest.mark.parametrize("text", [-1, "1.5msat", "sat", True, 1.5, "1.0001sat"])
def test_bad_msat_amounts(text: object) -> None:
    with pytest.raises(RpcFault):
        parse_msat(text, "amount_msat")
