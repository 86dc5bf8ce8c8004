"""What a nostr user publishes about themselves that the bot needs: lightning address, DM relays.

One fetch for both the messenger (refunds to a driver's ``lud16``, DMs to their kind 10050
relays; it caches and insists on a well-formed address) and ``zapcharge zap`` (the
recipient's ``lud16``, which the LNURL side then judges).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import nostr_sdk

from bot.nostr.events import KIND_DM_RELAYS, KIND_PROFILE
from bot.nostr.pool import RelayPool

__all__ = ["DriverProfile", "fetch_profile", "lud16_of", "well_formed_lud16"]

_LUD16 = re.compile(
    r"^[a-z0-9._+-]+@[a-z0-9.-]+\.[a-z]{2,}(:\d+)?$|^[a-z0-9._+-]+@localhost(:\d+)?$"
)


@dataclass(frozen=True)
class DriverProfile:
    lud16: str | None  # as published (trimmed, lower case), not yet checked
    dm_relays: tuple[str, ...]


def lud16_of(content: str) -> str | None:
    """The ``lud16`` string of kind 0 content, or None (profiles hold anything)."""
    try:
        value = json.loads(content).get("lud16")
    except (ValueError, AttributeError):
        return None
    return value.strip().lower() if isinstance(value, str) and value.strip() else None


def well_formed_lud16(value: str | None) -> str | None:
    """``value`` if it looks like ``name@domain`` (we pay refunds to it), else None."""
    return value if value is not None and _LUD16.match(value) else None


async def fetch_profile(pool: RelayPool, pubkey: str, timeout_s: float) -> DriverProfile:
    """The newest kind 0 and kind 10050 of ``pubkey`` (hex) on the pool's read relays."""
    query = (
        nostr_sdk.Filter()
        .author(nostr_sdk.PublicKey.parse(pubkey))
        .kinds([nostr_sdk.Kind(KIND_PROFILE), nostr_sdk.Kind(KIND_DM_RELAYS)])
    )
    newest: dict[int, nostr_sdk.Event] = {}
    for event in await pool.fetch([query], timeout_s):
        kind = event.kind().as_u16()
        if kind not in newest or event.created_at().as_secs() > newest[kind].created_at().as_secs():
            newest[kind] = event
    lud16 = lud16_of(str(newest[KIND_PROFILE].content())) if KIND_PROFILE in newest else None
    relays: tuple[str, ...] = ()
    if KIND_DM_RELAYS in newest:
        relays = tuple(
            str(t.to_vec()[1])
            for t in newest[KIND_DM_RELAYS].tags()
            if len(t.to_vec()) >= 2 and t.to_vec()[0] == "relay"
        )
    return DriverProfile(lud16, relays)
