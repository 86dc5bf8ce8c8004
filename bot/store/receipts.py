"""Zap receipts from an external zapper: claims by payment hash, refusals, the cursor, pins.

A claim is an ``INSERT`` under the payment hash's PRIMARY KEY, made once our node has
confirmed the payment and before any session exists: whoever inserts first acts, every
later delivery of the same payment finds the row and stops.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from bot.store.db import Database, Row

__all__ = ["Claim", "ReceiptStore", "Reject"]

MAX_REJECTS = 10_000  # anyone can publish junk receipts: keep only the newest refusals


@dataclass(frozen=True)
class Claim:
    """What a confirmed receipt says, enough to finish its session after a restart."""

    payment_hash: str
    receipt_id: str
    charger_id: str
    connector_id: int
    zapper_pubkey: str
    payer_pubkey: str
    payer_relays: tuple[str, ...]
    amount_msat: int
    paid_at: int
    receipt_created_at: int
    state: str = "claimed"
    session_id: str | None = None

    @classmethod
    def from_row(cls, row: Row) -> Claim:
        values = {name: row[name] for name in cls.__dataclass_fields__}
        values["payer_relays"] = tuple(json.loads(row["payer_relays"]))
        return cls(**values)


@dataclass(frozen=True)
class Reject:
    receipt_id: str
    charger_id: str | None
    payment_hash: str | None
    code: str
    reason: str
    seen_at: float


class ReceiptStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def claim(self, claim: Claim, now: float) -> bool:
        """True for the one caller that claimed this payment hash first."""
        return bool(
            await self._db.execute(
                "INSERT INTO zap_receipts (payment_hash, receipt_id, charger_id, connector_id,"
                " zapper_pubkey, payer_pubkey, payer_relays, amount_msat, paid_at,"
                " receipt_created_at, state, claimed_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'claimed', ?)"
                " ON CONFLICT(payment_hash) DO NOTHING",
                (
                    claim.payment_hash,
                    claim.receipt_id,
                    claim.charger_id,
                    claim.connector_id,
                    claim.zapper_pubkey,
                    claim.payer_pubkey,
                    json.dumps(list(claim.payer_relays)),
                    claim.amount_msat,
                    claim.paid_at,
                    claim.receipt_created_at,
                    now,
                ),
            )
        )

    async def get(self, payment_hash: str) -> Claim | None:
        row = await self._db.fetchone(
            "SELECT * FROM zap_receipts WHERE payment_hash = ?", (payment_hash,)
        )
        return Claim.from_row(row) if row else None

    async def unfinished(self) -> list[Claim]:
        rows = await self._db.fetchall(
            "SELECT * FROM zap_receipts WHERE state != 'done' ORDER BY claimed_at"
        )
        return [Claim.from_row(row) for row in rows]

    async def finished(self, payment_hash: str, session_id: str) -> None:
        """The session exists and the session layer was told; advance the cursor too."""
        async with self._db.transaction() as tx:
            await tx.execute(
                "UPDATE zap_receipts SET state = 'done', session_id = ? WHERE payment_hash = ?",
                (session_id, payment_hash),
            )
            await tx.execute(
                "INSERT INTO zap_receipt_cursor (id, last_created_at)"
                " SELECT 1, receipt_created_at FROM zap_receipts WHERE payment_hash = ?"
                " ON CONFLICT(id) DO UPDATE SET last_created_at ="
                " MAX(last_created_at, excluded.last_created_at)",
                (payment_hash,),
            )

    async def cursor(self) -> int | None:
        row = await self._db.fetchone("SELECT last_created_at FROM zap_receipt_cursor")
        return int(row["last_created_at"]) if row else None

    async def reject(
        self,
        receipt_id: str,
        *,
        charger_id: str | None,
        payment_hash: str | None,
        code: str,
        reason: str,
        now: float,
    ) -> None:
        """Record a refusal once per receipt and reason; keep the newest MAX_REJECTS."""
        async with self._db.transaction() as tx:
            rowid = await tx.insert(
                "INSERT INTO zap_receipt_rejects (receipt_id, charger_id, payment_hash, code,"
                " reason, seen_at) VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT(receipt_id, code) DO NOTHING",
                (receipt_id, charger_id, payment_hash, code, reason, now),
            )
            if rowid > MAX_REJECTS:
                await tx.execute(
                    "DELETE FROM zap_receipt_rejects WHERE id <= ?", (rowid - MAX_REJECTS,)
                )

    async def rejects(self, charger_id: str | None = None) -> list[Reject]:
        where, params = ("WHERE charger_id = ?", [charger_id]) if charger_id else ("", [])
        rows = await self._db.fetchall(
            f"SELECT * FROM zap_receipt_rejects {where} ORDER BY id",  # noqa: S608 -- fixed SQL
            params,
        )
        return [Reject(**{n: r[n] for n in Reject.__dataclass_fields__}) for r in rows]

    async def pin(self, charger_id: str) -> tuple[str, str] | None:
        """The pinned (lightning address, zapper pubkey) of a charger, if any."""
        row = await self._db.fetchone(
            "SELECT lightning_address, pubkey FROM zapper_pins WHERE charger_id = ?",
            (charger_id,),
        )
        return (row["lightning_address"], row["pubkey"]) if row else None

    async def set_pin(self, charger_id: str, address: str, pubkey: str, now: float) -> None:
        await self._db.execute(
            "INSERT INTO zapper_pins (charger_id, lightning_address, pubkey, pinned_at)"
            " VALUES (?, ?, ?, ?) ON CONFLICT(charger_id) DO UPDATE SET"
            " lightning_address = excluded.lightning_address, pubkey = excluded.pubkey,"
            " pinned_at = excluded.pinned_at",
            (charger_id, address, pubkey, now),
        )
