"""The client's NIP-47 exchange, pure: request events out; answers, notices and drops in."""

from __future__ import annotations

import os
from typing import Any

import pytest

from bot.errors import NwcProtocolError
from bot.lightning.nwc.exchange import Answer, Dropped, Exchange, Notice
from bot.lightning.nwc.protocol import (
    Encryption,
    Notification,
    Request,
    Response,
    decode_request,
    encode_notification,
    encode_response,
)
from bot.nostr.primitives import decrypt, encrypt, public_key_hex, sign_event

WALLET_SECRET = "22" * 32
CLIENT_SECRET = "33" * 32
WALLET = public_key_hex(WALLET_SECRET)
CLIENT = public_key_hex(CLIENT_SECRET)


def exchange(encryption: Encryption = Encryption.NIP44_V2) -> Exchange:
    return Exchange(CLIENT_SECRET, WALLET, encryption=encryption, clock=lambda: 1_700_000_000)


def response_to(
    request: dict[str, Any],
    encryption: Encryption = Encryption.NIP44_V2,
    secret: str = WALLET_SECRET,
    **changes: Any,
) -> dict[str, Any]:
    body = encode_response(Response.success("get_info", {"alias": "w"}))
    content = encrypt(encryption, secret, CLIENT, body)
    event = sign_event(secret, 23195, content, [["p", CLIENT], ["e", request["id"]]])
    return event | changes


def notification(kind: int = 23197, encryption: Encryption = Encryption.NIP44_V2) -> dict[str, Any]:
    body = encode_notification(Notification("payment_received", {"payment_hash": "ab" * 32}))
    content = encrypt(encryption, WALLET_SECRET, CLIENT, body)
    return sign_event(WALLET_SECRET, kind, content, [["p", CLIENT]])


def test_a_nip44_request_names_the_wallet_its_scheme_and_when_to_ignore_it() -> None:
    event = exchange().request_event(Request("get_info", {}), expires_in_s=15)
    assert event["kind"] == 23194 and event["pubkey"] == CLIENT
    assert ["p", WALLET] in event["tags"] and ["encryption", "nip44_v2"] in event["tags"]
    assert ["expiration", "1700000015"] in event["tags"]
    text = decrypt(Encryption.NIP44_V2, WALLET_SECRET, CLIENT, event["content"])
    assert decode_request(text) == Request("get_info", {})


def test_a_nip04_request_has_no_encryption_tag() -> None:
    event = exchange(Encryption.NIP04).request_event(Request("get_info", {}), expires_in_s=5)
    assert all(tag[0] != "encryption" for tag in event["tags"])
    text = decrypt(Encryption.NIP04, WALLET_SECRET, CLIENT, event["content"])
    assert decode_request(text).method == "get_info"


def test_the_first_answer_wins_and_a_repeat_is_dropped() -> None:
    ours = exchange()
    request = ours.request_event(Request("get_info", {}), expires_in_s=5)
    answer = ours.receive(response_to(request))
    assert isinstance(answer, Answer) and answer.request_id == request["id"]
    assert answer.response.result == {"alias": "w"}
    assert isinstance(ours.receive(response_to(request)), Dropped)
    assert ours.open_requests == 0


def test_an_answer_after_giving_up_is_dropped() -> None:
    ours = exchange()
    request = ours.request_event(Request("pay_invoice", {"invoice": "x"}), expires_in_s=5)
    ours.close(request["id"])
    assert isinstance(ours.receive(response_to(request)), Dropped)


def test_a_response_from_anyone_else_counts_for_nothing() -> None:
    ours = exchange()
    request = ours.request_event(Request("get_info", {}), expires_in_s=5)
    stranger = os.urandom(32).hex()
    dropped = ours.receive(response_to(request, secret=stranger))
    assert dropped == Dropped("not from the wallet service")
    assert ours.open_requests == 1  # still waiting for the wallet itself


def test_a_forged_signature_is_refused() -> None:
    ours = exchange()
    request = ours.request_event(Request("get_info", {}), expires_in_s=5)
    forged = response_to(request, sig="00" * 64)
    with pytest.raises(NwcProtocolError, match="signature"):
        ours.receive(forged)


def test_the_response_is_read_with_the_scheme_of_its_request() -> None:
    ours = exchange(Encryption.NIP04)
    request = ours.request_event(Request("get_info", {}), expires_in_s=5)
    ours.encryption = Encryption.NIP44_V2  # the wallet's info changed meanwhile
    assert isinstance(ours.receive(response_to(request, Encryption.NIP04)), Answer)


def test_notifications_are_new_once_per_event_id_in_either_scheme() -> None:
    ours = exchange()
    nip44, nip04 = notification(), notification(23196, Encryption.NIP04)
    first = ours.receive(nip44)
    assert isinstance(first, Notice)
    assert first.notification.notification_type == "payment_received"
    assert ours.receive(nip44) == Dropped("notification seen already")
    assert isinstance(ours.receive(nip04), Notice)


def test_the_memory_of_notifications_is_bounded() -> None:
    ours = Exchange(CLIENT_SECRET, WALLET, remember_notifications=2)
    events = [notification() for _ in range(3)]
    assert all(isinstance(ours.receive(e), Notice) for e in events)
    assert isinstance(ours.receive(events[0]), Notice)  # forgotten: the backend still
    # counts the payment once, by payment hash (bot.store.nwc)


def test_an_event_for_another_client_is_dropped() -> None:
    event = sign_event(WALLET_SECRET, 23197, "x", [["p", "44" * 32]])
    assert exchange().receive(event) == Dropped("not addressed to us")
