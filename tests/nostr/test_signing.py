from __future__ import annotations

import json

import nostr_sdk
import pytest

from bot.config.keys import generate_keys
from bot.nostr.events import sign_event, sign_event_with_id
from bot.nostr.signing import needs_sdk, sign_own

CONTENTS = [
    "",
    "⚡ Available · 250 sat/kWh",
    'quotes " and \\ backslash, / slash',
    "lines\nand\ttabs\r\b\f",
    "emoji 🚗🔌 and \u2028 separator",
]


@pytest.mark.parametrize("content", CONTENTS)
def test_our_signature_and_id_are_what_nostr_sdk_verifies(content: str) -> None:
    keys = generate_keys()
    tags = [["d", "cp-1"], ["g", "u"], ["alt", content], ["connector", "1", "Available"]]
    event_id, event_json = sign_own(keys, 33600, content, tags, 1_700_000_000)
    event = nostr_sdk.Event.from_json(event_json)
    assert event.verify()
    assert event.id().to_hex() == event_id
    assert event.author().to_hex() == keys.public_key_hex
    assert [t.to_vec() for t in event.tags()] == tags
    assert event.content() == content
    assert event.created_at().as_secs() == 1_700_000_000


def test_it_matches_the_sdk_event_for_event() -> None:
    keys = generate_keys()
    tags = [["d", "general"], ["expiration", "1700000900"]]
    ours = json.loads(sign_event_with_id(keys, 30315, "Ä ok", tags, 1_700_000_000)[1])
    theirs = json.loads(sign_event(keys, 30315, "Ä ok", tags, 1_700_000_000))
    assert ours["id"] == theirs["id"]  # same serialisation; signatures differ (aux randomness)
    assert {k: v for k, v in ours.items() if k != "sig"} == {
        k: v for k, v in theirs.items() if k != "sig"
    }


def test_other_control_characters_go_through_the_sdk() -> None:
    assert needs_sdk("bell \x07", [])
    assert needs_sdk("", [["name", "esc \x1b"]])
    assert not needs_sdk("new\nline\ttab", [["a", "b"]])
    keys = generate_keys()
    event_id, event_json = sign_event_with_id(keys, 1, "bell \x07", [], 1_700_000_000)
    event = nostr_sdk.Event.from_json(event_json)
    assert event.verify() and event.id().to_hex() == event_id
