"""Nostr bookkeeping: the last event per replaceable address, and DM events already seen."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bot.store.db import Database

__all__ = ["AddressState", "ChargerState", "NostrStateStore"]


@dataclass(frozen=True, slots=True)
class AddressState:
    """What we last published at one ``<kind>:<pubkey>:<d>`` address."""

    created_at: int
    fingerprint: str
    expires_at: float | None
    published_at: float


@dataclass(frozen=True, slots=True)
class ChargerState:
    """What the OCPP layer last stored about a charger: online, and status per connector;
    ``last_seen`` is when it was last heard from (its disconnect, when offline)."""

    online: bool
    connectors: dict[int, str]
    last_seen: float | None = None


class NostrStateStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def addresses(self) -> dict[str, AddressState]:
        rows = await self._db.fetchall(
            "SELECT address, created_at, fingerprint, expires_at, published_at FROM nostr_addresses"
        )
        return {
            r["address"]: AddressState(
                r["created_at"], r["fingerprint"], r["expires_at"], r["published_at"]
            )
            for r in rows
        }

    async def save_addresses(self, states: Mapping[str, AddressState]) -> None:
        async with self._db.transaction() as tx:
            for address, state in states.items():
                await tx.execute(
                    "INSERT INTO nostr_addresses (address, created_at, fingerprint, expires_at,"
                    " published_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT(address) DO UPDATE SET"
                    " created_at = excluded.created_at, fingerprint = excluded.fingerprint,"
                    " expires_at = excluded.expires_at, published_at = excluded.published_at",
                    (
                        address,
                        state.created_at,
                        state.fingerprint,
                        state.expires_at,
                        state.published_at,
                    ),
                )

    async def claim_dm(self, event_id: str, now: float) -> bool:
        """Record a DM event id as handled; False if it was handled before."""
        count = await self._db.execute(
            "INSERT INTO dm_seen (event_id, seen_at) VALUES (?, ?)"
            " ON CONFLICT(event_id) DO NOTHING",
            (event_id, now),
        )
        return count == 1

    async def prune_dms(self, before: float) -> int:
        return await self._db.execute("DELETE FROM dm_seen WHERE seen_at < ?", (before,))

    async def charger_states(self, charger_ids: Sequence[str]) -> dict[str, ChargerState]:
        """Rows of ``chargers`` and ``connector_status`` (written by the OCPP layer)."""
        if not charger_ids:
            return {}
        marks = ",".join("?" * len(charger_ids))
        chargers = await self._db.fetchall(
            f"SELECT id, online, last_seen FROM chargers WHERE id IN ({marks})",  # noqa: S608 -- only '?' marks
            tuple(charger_ids),
        )
        states = {r["id"]: ChargerState(bool(r["online"]), {}, r["last_seen"]) for r in chargers}
        query = f"SELECT * FROM connector_status WHERE charger_id IN ({marks})"  # noqa: S608 -- only '?' marks
        rows = await self._db.fetchall(query, tuple(charger_ids))
        for row in rows:
            state = states.setdefault(row["charger_id"], ChargerState(False, {}))
            state.connectors[int(row["connector_id"])] = row["status"]
        return states
