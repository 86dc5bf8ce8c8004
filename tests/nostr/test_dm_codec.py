from __future__ import annotations

import json
import time
from typing import Any

import nostr_sdk
import pytest

from bot.config.keys import generate_keys
from bot.nostr.dm_codec import (
    DmRejected,
    gift_wrap,
    nip04_message,
    open_gift_wrap,
    open_nip04,
    parse_command,
    recipient_of,
)
from tests.nostr.support import rumor_json, wrap_by_hand

V2 = nostr_sdk.Nip44Version.V2


def test_a_gift_wrap_round_trips_and_hides_sender_and_time() -> None:
    charger, driver = generate_keys(), generate_keys()
    wrap = nostr_sdk.Event.from_json(gift_wrap(charger, driver.public_key_hex, "⚡ charging"))
    assert wrap.kind().as_u16() == 1059
    assert wrap.author().to_hex() != charger.public_key_hex
    assert recipient_of(wrap) == driver.public_key_hex
    assert wrap.created_at().as_secs() <= int(time.time())
    dm = open_gift_wrap(driver, wrap)
    assert (dm.sender, dm.recipient, dm.text, dm.protocol) == (
        charger.public_key_hex,
        driver.public_key_hex,
        "⚡ charging",
        "nip17",
    )
    assert dm.event_id == wrap.id().to_hex() and dm.message_id != dm.event_id
    assert abs(dm.created_at - time.time()) < 60  # the rumor keeps the real time


def test_a_hand_built_gift_wrap_opens_with_the_rumor_id() -> None:
    charger, driver = generate_keys(), nostr_sdk.Keys.generate()
    rumor = rumor_json(driver.public_key().to_hex(), "stop", charger.public_key_hex)
    dm = open_gift_wrap(charger, wrap_by_hand(driver, rumor, charger))
    expected = nostr_sdk.UnsignedEvent.from_json(rumor).ensure_id().id().to_hex()
    assert (dm.text, dm.sender, dm.message_id) == ("stop", driver.public_key().to_hex(), expected)


def test_a_forged_sender_is_refused() -> None:
    charger, victim, forger = generate_keys(), nostr_sdk.Keys.generate(), nostr_sdk.Keys.generate()
    rumor = rumor_json(victim.public_key().to_hex(), "stop", charger.public_key_hex)
    with pytest.raises(DmRejected, match="forged"):
        open_gift_wrap(charger, wrap_by_hand(forger, rumor, charger))


@pytest.mark.parametrize(
    ("rumor_changes", "seal_kind", "reason"),
    [
        ({"kind": 1}, 13, "not a chat message"),
        ({"tags": [["p", "00" * 32]]}, 13, "not addressed"),
        ({"id": "00" * 32}, 13, "rumor id does not match"),
        ({"created_at": "yesterday"}, 13, "not an unsigned event"),
        ({}, 1, "seal is not"),
    ],
)
def test_malformed_layers_are_refused(
    rumor_changes: dict[str, Any], seal_kind: int, reason: str
) -> None:
    charger, driver = generate_keys(), nostr_sdk.Keys.generate()
    rumor = rumor_json(driver.public_key().to_hex(), "hi", charger.public_key_hex, **rumor_changes)
    with pytest.raises(DmRejected, match=reason):
        open_gift_wrap(charger, wrap_by_hand(driver, rumor, charger, seal_kind=seal_kind))


def test_garbage_and_other_peoples_wraps_are_refused() -> None:
    charger, driver = generate_keys(), generate_keys()
    someone_else = generate_keys()
    wrap = nostr_sdk.Event.from_json(gift_wrap(driver, someone_else.public_key_hex, "not yours"))
    with pytest.raises(DmRejected, match="undecryptable"):
        open_gift_wrap(charger, wrap)
    keys = nostr_sdk.Keys.generate()
    junk = nostr_sdk.EventBuilder(nostr_sdk.Kind(1059), "not encrypted").finalize(keys)
    with pytest.raises(DmRejected, match="undecryptable"):
        open_gift_wrap(charger, junk)
    to = nostr_sdk.PublicKey.parse(charger.public_key_hex)
    not_json = nostr_sdk.nip44_encrypt(keys.secret_key(), to, "{not json", V2)
    not_seal = nostr_sdk.EventBuilder(nostr_sdk.Kind(1059), not_json).finalize(keys)
    with pytest.raises(DmRejected, match="seal is not an event"):
        open_gift_wrap(charger, not_seal)
    note = nostr_sdk.EventBuilder(nostr_sdk.Kind(1), "x").finalize(keys)
    with pytest.raises(DmRejected, match="not a gift wrap"):
        open_gift_wrap(charger, note)


def test_nip04_round_trip_and_refusals() -> None:
    charger, driver = generate_keys(), generate_keys()
    event = nostr_sdk.Event.from_json(
        nip04_message(driver, charger.public_key_hex, "status", 1_700_000_000)
    )
    dm = open_nip04(charger, event)
    assert (dm.sender, dm.text, dm.protocol, dm.created_at) == (
        driver.public_key_hex,
        "status",
        "nip04",
        1_700_000_000,
    )
    assert dm.event_id == dm.message_id == event.id().to_hex()
    with pytest.raises(DmRejected, match="not addressed"):
        open_nip04(generate_keys(), event)
    keys = nostr_sdk.Keys.generate()
    garbage = (
        nostr_sdk.EventBuilder(nostr_sdk.Kind(4), "plain text")
        .tags([nostr_sdk.Tag.parse(["p", charger.public_key_hex])])
        .finalize(keys)
    )
    with pytest.raises(DmRejected, match="undecryptable"):
        open_nip04(charger, garbage)
    forged = json.loads(event.as_json())
    forged["pubkey"] = generate_keys().public_key_hex
    with pytest.raises(DmRejected, match="validly signed"):
        open_nip04(charger, nostr_sdk.Event.from_json(json.dumps(forged)))


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("status", "status"),
        ("  STOP please", "stop"),
        ("/help", "help"),
        ("!status", "status"),
        ("Stop!", "stop"),
        ("Status?", "status"),
        ("what is this?", "help"),
        ("", "help"),
        ("stopp", "help"),
        ("notify", "notify"),
        ("Notify me!", "notify"),
        ("notify off", "notify off"),
        ("NOTIFY stop", "notify off"),
        ("notify: no", "notify off"),
        ("cancel", "cancel"),
        ("Cancel.", "cancel"),
    ],
)
def test_commands(text: str, command: str) -> None:
    assert parse_command(text) == command
