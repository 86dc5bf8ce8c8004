"""What the OCPP layer knows about chargers: online state, boot data, connector status,
and the anomalies log of input that was refused or could not be applied.

``last_seen`` from a Heartbeat is not billing data: :meth:`ChargerStore.seen` keeps it in
memory and :meth:`ChargerStore.flush_seen` writes all of them in one transaction (the
central system calls it every minute and when it stops), instead of one commit and one
fdatasync per Heartbeat. Connects, disconnects and boots still write it at once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.store.db import Database

__all__ = [
    "ANOMALY_RAW_LIMIT",
    "Anomaly",
    "BootInfo",
    "ChargerRow",
    "ChargerStore",
    "ConnectorState",
    "charger_row",
]

ANOMALY_RAW_LIMIT = 65536  # characters of a refused frame that are kept verbatim


@dataclass(frozen=True)
class BootInfo:
    vendor: str
    model: str
    serial_number: str | None
    firmware_version: str | None


@dataclass(frozen=True)
class ChargerRow:
    id: str
    online: bool
    last_seen: float | None
    booted_at: float | None
    boot: BootInfo | None


@dataclass(frozen=True)
class ConnectorState:
    connector_id: int
    status: str
    error_code: str
    info: str | None
    reported_at: float | None
    updated_at: float


@dataclass(frozen=True)
class Anomaly:
    id: int
    charger_id: str
    received_at: float
    action: str | None
    unique_id: str | None
    kind: str  # "refused": answered with a CALLERROR; "unapplied": answered, not applied
    code: str | None
    detail: str
    raw: str
    raw_length: int
    raw_sha256: str


class ChargerStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._seen: dict[str, float] = {}  # charger id -> last Heartbeat, not yet written

    async def register(self, chargers: Sequence[tuple[str, str]]) -> None:
        """Record each configured (charger id, pubkey) so that later rows can point at it."""
        async with self._db.transaction() as tx:
            for charger_id, pubkey in chargers:
                await tx.execute(
                    "INSERT INTO chargers (id, pubkey) VALUES (?, ?)"
                    " ON CONFLICT(id) DO UPDATE SET pubkey = excluded.pubkey",
                    (charger_id, pubkey),
                )

    async def connected(self, charger_id: str, pubkey: str, at: float) -> None:
        self._seen.pop(charger_id, None)
        await self._db.execute(
            "INSERT INTO chargers (id, pubkey, online, last_seen) VALUES (?, ?, 1, ?)"
            " ON CONFLICT(id) DO UPDATE SET online = 1, last_seen = excluded.last_seen",
            (charger_id, pubkey, at),
        )

    async def disconnected(self, charger_id: str, at: float) -> None:
        self._seen.pop(charger_id, None)
        await self._db.execute(
            "UPDATE chargers SET online = 0, last_seen = ? WHERE id = ?", (at, charger_id)
        )

    async def all_offline(self) -> None:
        """At start-up no charger is connected to this process yet."""
        await self._db.execute("UPDATE chargers SET online = 0 WHERE online = 1")

    def seen(self, charger_id: str, at: float) -> None:
        """Note a sign of life; written by the next :meth:`flush_seen`."""
        self._seen[charger_id] = at

    async def flush_seen(self) -> int:
        """Write every noted ``last_seen`` in one transaction; returns how many."""
        pending, self._seen = self._seen, {}
        if not pending:
            return 0
        try:
            async with self._db.transaction() as tx:
                await tx.executemany(
                    "UPDATE chargers SET last_seen = MAX(COALESCE(last_seen, 0), ?) WHERE id = ?",
                    [(at, charger_id) for charger_id, at in pending.items()],
                )
        except BaseException:
            self._seen = pending | self._seen  # kept for the next flush
            raise
        return len(pending)

    async def booted(self, charger_id: str, boot: BootInfo, at: float) -> None:
        self._seen.pop(charger_id, None)
        await self._db.execute(
            "UPDATE chargers SET vendor = ?, model = ?, serial_number = ?, firmware_version = ?,"
            " booted_at = ?, last_seen = ? WHERE id = ?",
            (
                boot.vendor,
                boot.model,
                boot.serial_number,
                boot.firmware_version,
                at,
                at,
                charger_id,
            ),
        )

    async def get(self, charger_id: str) -> ChargerRow | None:
        row = await self._db.fetchone("SELECT * FROM chargers WHERE id = ?", (charger_id,))
        if row is None:
            return None
        boot = None
        if row["vendor"] is not None:
            boot = BootInfo(
                row["vendor"], row["model"], row["serial_number"], row["firmware_version"]
            )
        last_seen = max(row["last_seen"] or 0.0, self._seen.get(charger_id, 0.0)) or None
        return ChargerRow(row["id"], bool(row["online"]), last_seen, row["booted_at"], boot)

    async def set_status(self, charger_id: str, state: ConnectorState) -> None:
        await self._db.execute(
            "INSERT INTO connector_status (charger_id, connector_id, status, error_code, info,"
            " reported_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT(charger_id, connector_id) DO UPDATE SET status = excluded.status,"
            " error_code = excluded.error_code, info = excluded.info,"
            " reported_at = excluded.reported_at, updated_at = excluded.updated_at",
            (
                charger_id,
                state.connector_id,
                state.status,
                state.error_code,
                state.info,
                state.reported_at,
                state.updated_at,
            ),
        )

    async def statuses(self, charger_id: str) -> dict[int, ConnectorState]:
        rows = await self._db.fetchall(
            "SELECT * FROM connector_status WHERE charger_id = ? ORDER BY connector_id",
            (charger_id,),
        )
        return {
            r["connector_id"]: ConnectorState(
                r["connector_id"],
                r["status"],
                r["error_code"],
                r["info"],
                r["reported_at"],
                r["updated_at"],
            )
            for r in rows
        }

    async def record_anomaly(
        self,
        charger_id: str,
        *,
        at: float,
        kind: str,
        detail: str,
        raw: str,
        action: str | None = None,
        unique_id: str | None = None,
        code: str | None = None,
    ) -> int:
        """Keep what a charger sent that was refused or not applied; returns the row id."""
        return await self._db.insert(
            "INSERT INTO ocpp_anomalies (charger_id, received_at, action, unique_id, kind, code,"
            " detail, raw, raw_length, raw_sha256) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                charger_id,
                at,
                None if action is None else _storable(action),
                None if unique_id is None else _storable(unique_id),
                kind,
                None if code is None else _storable(code),
                _storable(detail),
                _storable(raw[:ANOMALY_RAW_LIMIT]),
                len(raw),
                hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest(),
            ),
        )

    async def anomalies(self, charger_id: str) -> list[Anomaly]:
        rows = await self._db.fetchall(
            "SELECT * FROM ocpp_anomalies WHERE charger_id = ? ORDER BY id", (charger_id,)
        )
        return [_anomaly(r) for r in rows]


def _storable(text: str) -> str:
    """A charger's lone surrogate escapes (``"\\ud800"``) kept as text: UTF-8 cannot hold them."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def charger_row(row: Any) -> ChargerRow:
    """A row as written: ``last_seen`` lags the newest Heartbeat by up to one flush."""
    boot = None
    if row["vendor"] is not None:
        boot = BootInfo(row["vendor"], row["model"], row["serial_number"], row["firmware_version"])
    return ChargerRow(row["id"], bool(row["online"]), row["last_seen"], row["booted_at"], boot)


def _anomaly(row: Any) -> Anomaly:
    return Anomaly(
        id=row["id"],
        charger_id=row["charger_id"],
        received_at=row["received_at"],
        action=row["action"],
        unique_id=row["unique_id"],
        kind=row["kind"],
        code=row["code"],
        detail=row["detail"],
        raw=row["raw"],
        raw_length=row["raw_length"],
        raw_sha256=row["raw_sha256"],
    )
