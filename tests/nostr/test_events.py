from __future__ import annotations

import hashlib
import json
from dataclasses import replace

import coincurve
import pytest

from bot.config import RelayConfig
from bot.config.keys import generate_keys
from bot.nostr.events import (
    ChargerSnapshot,
    ConnectorState,
    address_of,
    dm_relay_tags,
    geohash_ladder,
    location_tags,
    profile_content,
    relay_list_tags,
    sign_event,
    status_tags,
    status_text,
    user_status_tags,
)
from tests.nostr.support import make_charger

LADDER = ["u", "u2", "u28", "u281", "u281z", "u281z7", "u281z7j", "u281z7j5", "u281z7j5e"]


def snapshot(*statuses: str, online: bool = True, price: int = 250_000) -> ChargerSnapshot:
    plugs = [("Type2", 22000), ("CCS2", 50000), ("Type2", 11000)]
    connectors = tuple(
        ConnectorState(i + 1, s, plugs[i][0], plugs[i][1]) for i, s in enumerate(statuses)
    )
    return ChargerSnapshot("cp-001", "Harbour charger 1", online, connectors, price)


def test_the_geohash_ladder_has_every_prefix_up_to_nine() -> None:
    assert geohash_ladder(48.1372, 11.5756) == LADDER
    assert geohash_ladder(48.1372, 11.5756, precision=3) == LADDER[:3]


def test_addresses_of_replaceable_and_addressable_events() -> None:
    assert address_of(0, "pk", []) == "0:pk:"
    assert address_of(10050, "pk", [["d", "x"]]) == "10050:pk:"
    assert address_of(33600, "pk", [["g", "u"], ["d", "cp-1"]]) == "33600:pk:cp-1"
    assert address_of(30315, "pk", []) == "30315:pk:"
    assert address_of(1, "pk", []) is None
    assert address_of(9735, "pk", [["d", "x"]]) is None


def test_profile_has_lightning_address_and_nip05_on_our_domain() -> None:
    content = json.loads(
        profile_content(make_charger(), "https://charge.example.org", "charge.example.org")
    )
    assert content == {
        "name": "Harbour charger 1",
        "display_name": "Harbour charger 1",
        "about": "22 kW Type 2, pay with a zap",
        "picture": "https://charge.example.org/img/cp-001.jpg",
        "lud16": "cp-001@charge.example.org",
        "nip05": "cp-001@charge.example.org",
        "website": "https://charge.example.org",
        "bot": True,
    }
    bare = json.loads(profile_content(make_charger(picture=""), "https://h", "h"))
    assert "picture" not in bare


def test_relay_lists() -> None:
    relays = [
        RelayConfig("wss://both.example", read=True, write=True),
        RelayConfig("wss://read.example", read=True, write=False),
        RelayConfig("wss://write.example", read=False, write=True),
        RelayConfig("wss://off.example", read=False, write=False),
    ]
    assert relay_list_tags(relays) == [
        ["r", "wss://both.example"],
        ["r", "wss://read.example", "read"],
        ["r", "wss://write.example", "write"],
    ]
    assert dm_relay_tags(["wss://a", "wss://b"]) == [["relay", "wss://a"], ["relay", "wss://b"]]


def test_location_tags_follow_the_places_draft() -> None:
    tags = location_tags(make_charger(), 250_000, "https://charge.example.org")
    assert tags == [
        ["d", "cp-001"],
        ["name", "Harbour charger 1"],
        *(["g", g] for g in LADDER),
        ["L", "physical-location"],
        ["l", "ev-charging", "physical-location"],
        ["address", "Hafenstrasse 1, 80331 Munich, DE"],
        ["t", "type2"],
        ["t", "ccs2"],
        ["t", "ev-charging"],
        ["t", "accepts-bitcoin"],
        ["payment_method", "BTC", "lightning"],
        ["image", "https://charge.example.org/img/cp-001.jpg"],
        ["website", "https://charge.example.org"],
        ["meta", "max-power-w", "50000"],
        ["meta", "connectors", "2"],
        ["meta", "price-msat-per-kwh", "250000"],
        ["alt", "EV charging location: Harbour charger 1"],
    ]


def test_status_tags() -> None:
    charger = make_charger()
    pubkey = charger.keys.public_key_hex
    tags = status_tags(pubkey, charger, snapshot("Available", "Charging"), expires_at=1_700_000_900)
    assert tags == [
        ["d", "cp-001"],
        ["a", f"33000:{pubkey}:cp-001"],
        ["name", "Harbour charger 1"],
        ["connector", "1", "Available", "Type2", "22000"],
        ["connector", "2", "Charging", "CCS2", "50000"],
        ["price", "250000", "msat", "kWh"],
        ["price-source", "static", "fresh"],
        *(["g", g] for g in LADDER),
        ["expiration", "1700000900"],
        ["alt", "EV charge point status: ⚡ 1 of 2 available · 250 sat/kWh"],
    ]
    spot = replace(
        snapshot("Available", "Charging"), price_source="spot", price_until=1_700_003_600
    )
    spot_tags = status_tags(pubkey, charger, spot, expires_at=1_700_000_900)
    assert spot_tags[6:8] == [["price-source", "spot", "fresh"], ["price-until", "1700003600"]]
    assert not [t for t in tags if t[0] == "reservation"]  # no reservation terms: no tag
    terms = replace(charger.tariff, reservation_minutes=7.5, reservation_fee_msat=150_000)
    reserving = status_tags(
        pubkey, replace(charger, tariff=terms), snapshot("Reserved"), expires_at=1_700_000_900
    )
    assert reserving[3] == ["connector", "1", "Reserved", "Type2", "22000"]
    assert ["reservation", "7.5", "150000", "msat"] in reserving
    assert user_status_tags(pubkey, "cp-001", 1_700_000_900) == [
        ["d", "general"],
        ["a", f"33600:{pubkey}:cp-001"],
        ["expiration", "1700000900"],
    ]


@pytest.mark.parametrize(
    ("snap", "text"),
    [
        (snapshot("Available"), "⚡ Available · 250 sat/kWh"),
        (snapshot("Available", "Charging", "Available"), "⚡ 2 of 3 available · 250 sat/kWh"),
        (snapshot("Charging", "Preparing"), "🔌 In use · 250 sat/kWh"),
        (snapshot("Faulted", "Unavailable"), "⚠️ Out of order"),
        (snapshot("Offline", online=False), "⛔ Offline"),
        (snapshot("Available", price=210_500), "⚡ Available · 210.5 sat/kWh"),
        (
            replace(snapshot("Charging"), price_state="stale"),
            "🔌 In use · 250 sat/kWh (stale price)",
        ),
    ],
)
def test_status_text_for_people(snap: ChargerSnapshot, text: str) -> None:
    assert status_text(snap) == text


def test_signed_events_check_out_with_an_independent_bip340() -> None:
    """Our id is sha256 of the NIP-01 serialisation and the signature verifies in coincurve."""
    keys = generate_keys()
    tags = [["d", "cp-1"], ["connector", "1", "Available", "Type2", "22000"], ["g", "u"]]
    content = 'ünïcode "quoted"\n\ttab \\ backslash ⚡'
    event = json.loads(sign_event(keys, 33600, content, tags, 1_700_000_000))
    assert (event["pubkey"], event["kind"], event["created_at"]) == (
        keys.public_key_hex,
        33600,
        1_700_000_000,
    )
    assert event["tags"] == tags and event["content"] == content
    serialised = json.dumps(
        [0, event["pubkey"], event["created_at"], event["kind"], event["tags"], event["content"]],
        separators=(",", ":"),
        ensure_ascii=False,
    )
    assert hashlib.sha256(serialised.encode()).hexdigest() == event["id"]
    xonly = coincurve.PublicKeyXOnly(bytes.fromhex(event["pubkey"]))
    assert xonly.verify(bytes.fromhex(event["sig"]), bytes.fromhex(event["id"]))
    other = coincurve.PublicKeyXOnly(bytes.fromhex(generate_keys().public_key_hex))
    assert not other.verify(bytes.fromhex(event["sig"]), bytes.fromhex(event["id"]))
