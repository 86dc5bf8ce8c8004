"""Pure builders of the events a charger publishes; each returns a signed event as JSON.

The tag lists are built by plain functions (tested tag by tag), and :func:`sign_event` is
the one place that turns kind, content, tags and ``created_at`` into a signed event. The
caller passes ``created_at``: strictly increasing per address is the caller's job (see
``bot.nostr.addresses``), and tests pass fixed times.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import geohash2
import nostr_sdk

from bot.config import ChargerConfig, RelayConfig
from bot.config.keys import ChargerKeys
from bot.nostr.keys import sdk_keys
from bot.nostr.signing import needs_sdk, sign_own

__all__ = [
    "GEOHASH_PRECISION",
    "KIND_DM_RELAYS",
    "KIND_LOCATION",
    "KIND_PROFILE",
    "KIND_RELAY_LIST",
    "KIND_STATUS",
    "KIND_USER_STATUS",
    "PRICE_FALLBACK",
    "PRICE_FRESH",
    "PRICE_STALE",
    "ChargerSnapshot",
    "ConnectorState",
    "address_of",
    "coordinate",
    "dm_relay_tags",
    "geohash_ladder",
    "lightning_address",
    "location_tags",
    "profile_content",
    "relay_list_tags",
    "sign_event",
    "sign_event_with_id",
    "status_tags",
    "status_text",
    "user_status_tags",
]

KIND_PROFILE = 0
KIND_RELAY_LIST = 10002
KIND_DM_RELAYS = 10050
KIND_USER_STATUS = 30315
KIND_LOCATION = 33000
KIND_STATUS = 33600
GEOHASH_PRECISION = 9  # about 5 m: a parking bay, not a house number
# How the status price was made (the third value of the ``price-source`` tag).
PRICE_FRESH = "fresh"  # from current data, or a fixed tariff
PRICE_STALE = "stale"  # from the last good data of a failing feed
PRICE_FALLBACK = "fallback"  # the configured fallback price stands in for missing data


@dataclass(frozen=True)
class ConnectorState:
    id: int
    status: str  # an OCPP 1.6 ChargePointStatus, or "Unknown" / "Offline" (see docs/nip-ev.md)
    plug_type: str
    max_power_w: int


@dataclass(frozen=True)
class ChargerSnapshot:
    """Everything the status events say about one charger at one moment."""

    charger_id: str
    name: str
    online: bool
    connectors: tuple[ConnectorState, ...]
    price_msat_per_kwh: int
    price_source: str = "static"  # the tariff kind: static, schedule, spot, green
    price_state: str = PRICE_FRESH  # fresh, stale or fallback (docs/nip-ev.md)
    price_until: int | None = None  # unix end of the price window, when it has one

    def fingerprint(self) -> str:
        parts = [self.name, str(self.online), str(self.price_msat_per_kwh)]
        parts += [self.price_source, self.price_state, str(self.price_until)]
        parts += [f"{c.id}/{c.status}/{c.plug_type}/{c.max_power_w}" for c in self.connectors]
        return "|".join(parts)


def geohash_ladder(lat: float, lon: float, precision: int = GEOHASH_PRECISION) -> list[str]:
    """Every prefix of the point's geohash: relays match ``#g`` exactly, not by prefix."""
    full = str(geohash2.encode(lat, lon, precision=precision))
    return [full[:n] for n in range(1, precision + 1)]


def coordinate(kind: int, pubkey: str, identifier: str) -> str:
    return f"{kind}:{pubkey}:{identifier}"


def address_of(kind: int, pubkey: str, tags: Sequence[Sequence[str]]) -> str | None:
    """The replaceable address of an event (NIP-01), or None for a regular event."""
    if kind in (0, 3) or 10000 <= kind < 20000:
        return coordinate(kind, pubkey, "")
    if 30000 <= kind < 40000:
        d = next((t[1] for t in tags if len(t) >= 2 and t[0] == "d"), "")
        return coordinate(kind, pubkey, d)
    return None


def lightning_address(charger_id: str, domain: str) -> str:
    return f"{charger_id}@{domain}"


def sign_event(
    keys: ChargerKeys, kind: int, content: str, tags: Sequence[Sequence[str]], created_at: int
) -> str:
    """Sign with the charger's key; returns the event as NIP-01 JSON."""
    builder = (
        nostr_sdk.EventBuilder(nostr_sdk.Kind(kind), content)
        .tags([nostr_sdk.Tag.parse(list(tag)) for tag in tags])
        .custom_created_at(nostr_sdk.Timestamp.from_secs(created_at))
    )
    return str(builder.finalize(sdk_keys(keys)).as_json())


def sign_event_with_id(
    keys: ChargerKeys, kind: int, content: str, tags: Sequence[Sequence[str]], created_at: int
) -> tuple[str, str]:
    """Like :func:`sign_event`; returns (event id hex, NIP-01 JSON).

    Signed in Python (:mod:`bot.nostr.signing`, six times faster than the SDK) unless a
    string holds a control character whose NIP-01 escaping differs from ``json.dumps``.
    """
    if not needs_sdk(content, tags):
        return sign_own(keys, kind, content, tags, created_at)
    builder = (
        nostr_sdk.EventBuilder(nostr_sdk.Kind(kind), content)
        .tags([nostr_sdk.Tag.parse(list(tag)) for tag in tags])
        .custom_created_at(nostr_sdk.Timestamp.from_secs(created_at))
    )
    event = builder.finalize(sdk_keys(keys))
    return str(event.id().to_hex()), str(event.as_json())


def profile_content(charger: ChargerConfig, public_url: str, domain: str) -> str:
    """Kind 0 content: NIP-01/NIP-24 fields, ``lud16`` and ``nip05`` on our own domain."""
    address = lightning_address(charger.id, domain)
    # An operator's own zapper keeps its address on the profile; the bot listens for its
    # receipts (bot/receipts). NIP-05 stays ours: it is served by our HTTP side.
    lud16 = charger.zapper.lightning_address if charger.zapper else address
    profile: dict[str, Any] = {
        "name": charger.name,
        "display_name": charger.name,
        "about": charger.about,
        "lud16": lud16,
        "nip05": address,
        "website": public_url,
        "bot": True,  # NIP-24: the account is run by a program
    }
    if charger.picture:
        profile["picture"] = charger.picture
    return json.dumps(profile, ensure_ascii=False, separators=(",", ":"))


def relay_list_tags(relays: Sequence[RelayConfig]) -> list[list[str]]:
    """NIP-65: an ``r`` tag per relay; no marker means both read and write."""
    tags: list[list[str]] = []
    for relay in relays:
        if relay.read and relay.write:
            tags.append(["r", relay.url])
        elif relay.read or relay.write:
            tags.append(["r", relay.url, "read" if relay.read else "write"])
    return tags


def dm_relay_tags(urls: Sequence[str]) -> list[list[str]]:
    """NIP-17 kind 10050: where drivers should send DMs (the relays we read)."""
    return [["relay", url] for url in urls]


def location_tags(charger: ChargerConfig, price_msat_per_kwh: int, website: str) -> list[list[str]]:
    """Kind 33000 "Places" (NIP PR #2074) for an EV charging site."""
    tags: list[list[str]] = [["d", charger.id], ["name", charger.name]]
    tags += [["g", g] for g in geohash_ladder(charger.lat, charger.lon)]
    tags += [["L", "physical-location"], ["l", "ev-charging", "physical-location"]]
    if charger.address:
        tags.append(["address", charger.address])  # one free-text line, see docs/nip-ev.md
    for plug in dict.fromkeys(c.type.lower() for c in charger.connectors):
        tags.append(["t", plug])
    tags += [["t", "ev-charging"], ["t", "accepts-bitcoin"], ["payment_method", "BTC", "lightning"]]
    if charger.picture:
        tags.append(["image", charger.picture])
    if website:
        tags.append(["website", website])
    max_power = max(c.max_power_w for c in charger.connectors)
    tags += [
        ["meta", "max-power-w", str(max_power)],
        ["meta", "connectors", str(len(charger.connectors))],
        ["meta", "price-msat-per-kwh", str(price_msat_per_kwh)],
        ["alt", f"EV charging location: {charger.name}"],
    ]
    return tags


def status_tags(
    pubkey: str, charger: ChargerConfig, snapshot: ChargerSnapshot, expires_at: int
) -> list[list[str]]:
    """Kind 33600 charge point status (our kind, specified in docs/nip-ev.md)."""
    tags: list[list[str]] = [
        ["d", charger.id],
        ["a", coordinate(KIND_LOCATION, pubkey, charger.id)],
        ["name", snapshot.name],
    ]
    tags += [
        ["connector", str(c.id), c.status, c.plug_type, str(c.max_power_w)]
        for c in snapshot.connectors
    ]
    tags.append(["price", str(snapshot.price_msat_per_kwh), "msat", "kWh"])
    tags.append(["price-source", snapshot.price_source, snapshot.price_state])
    if snapshot.price_until is not None:
        tags.append(["price-until", str(snapshot.price_until)])
    terms = charger.tariff
    if terms.reservation_minutes is not None and terms.reservation_fee_msat is not None:
        # What a client offers as "reserve": zap exactly this with the comment "reserve".
        minutes = f"{terms.reservation_minutes:g}"
        tags.append(["reservation", minutes, str(terms.reservation_fee_msat), "msat"])
    tags += [["g", g] for g in geohash_ladder(charger.lat, charger.lon)]
    tags += [
        ["expiration", str(expires_at)],
        ["alt", f"EV charge point status: {status_text(snapshot)}"],
    ]
    return tags


def user_status_tags(pubkey: str, charger_id: str, expires_at: int) -> list[list[str]]:
    """NIP-38 kind 30315 ``general`` status, pointing at the machine-readable status."""
    return [
        ["d", "general"],
        ["a", coordinate(KIND_STATUS, pubkey, charger_id)],
        ["expiration", str(expires_at)],
    ]


def status_text(snapshot: ChargerSnapshot) -> str:
    """One line for people: "⚡ Available · 250 sat/kWh"."""
    price = f"{_sats(snapshot.price_msat_per_kwh)} sat/kWh"
    if snapshot.price_state != PRICE_FRESH:  # a failing price feed says so where people look
        price += f" ({snapshot.price_state} price)"
    statuses = [c.status for c in snapshot.connectors]
    if not snapshot.online:
        return "⛔ Offline"
    available = statuses.count("Available")
    if available:
        what = "Available" if len(statuses) == 1 else f"{available} of {len(statuses)} available"
        return f"⚡ {what} · {price}"
    if all(s in ("Faulted", "Unavailable", "Unknown") for s in statuses):
        return "⚠️ Out of order"
    return f"🔌 In use · {price}"


def _sats(msat: int) -> str:
    whole, rest = divmod(msat, 1000)
    return f"{whole}" if rest == 0 else f"{whole}.{rest:03d}".rstrip("0")
