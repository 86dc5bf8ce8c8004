"""The simulated node's state: one SQLite file under ``<lightning-dir>/<network>/``.

Everything the node knows (its key, invoices, the payments it made, its counters) lives
here, so a restarted node carries on where it stopped, as lightningd does. This class is
the only code that touches the file. Its calls are synchronous on purpose: the node is
a single-writer test process and each statement takes microseconds, less than a thread
hop would cost.
"""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["STATE_FILE", "SimPayment", "SimState", "read_payments", "state_path"]

STATE_FILE = "simnode.sqlite3"

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS invoices ("
    " created_index INTEGER PRIMARY KEY, label TEXT NOT NULL UNIQUE,"
    " payment_hash TEXT NOT NULL UNIQUE, preimage TEXT NOT NULL UNIQUE, bolt11 TEXT NOT NULL,"
    " description TEXT NOT NULL, deschashonly INTEGER NOT NULL, amount_msat INTEGER,"
    " status TEXT NOT NULL, expires_at INTEGER NOT NULL, pay_index INTEGER UNIQUE,"
    " amount_received_msat INTEGER, paid_at INTEGER, updated_index INTEGER)",
    "CREATE TABLE IF NOT EXISTS payments ("
    " created_index INTEGER PRIMARY KEY, payment_hash TEXT NOT NULL UNIQUE,"
    " bolt11 TEXT NOT NULL, destination TEXT NOT NULL, amount_msat INTEGER NOT NULL,"
    " amount_sent_msat INTEGER NOT NULL, status TEXT NOT NULL, preimage TEXT,"
    " preimage_known INTEGER NOT NULL DEFAULT 0, label TEXT, method TEXT NOT NULL,"
    " created_at INTEGER NOT NULL, completed_at INTEGER, updated_index INTEGER,"
    " failure_code INTEGER, failure_message TEXT)",
)
# Columns added after the first release: a state file of an older node gains them on start.
# description_hash: the hash an invoice commits to (NWC make_invoice may send only the hash);
# created_at: the invoice's BOLT11 timestamp (NWC transactions carry it).
_ADDED_COLUMNS = (("invoices", "description_hash", "TEXT"), ("invoices", "created_at", "INTEGER"))


def state_path(lightning_dir: Path, network: str) -> Path:
    return lightning_dir / network / STATE_FILE


@dataclass(frozen=True)
class SimPayment:
    """An outgoing payment the simulated node made (a refund, usually): what, to whom, how."""

    payment_hash: str
    bolt11: str
    destination: str
    amount_msat: int
    amount_sent_msat: int
    status: str  # pending | complete | failed, as listpays says
    method: str  # xpay or pay
    created_at: int
    preimage: str | None
    failure_code: int | None


class SimState:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        # A simulator needs to survive a process restart, not a power cut.
        self._db.execute("PRAGMA synchronous=NORMAL")
        for statement in _SCHEMA:
            self._db.execute(statement)
        for table, column, kind in _ADDED_COLUMNS:
            present = {r["name"] for r in self._db.execute(f"PRAGMA table_info({table})")}
            if column not in present:
                self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def node_key(self) -> str:
        """The node's secret key (hex), created on the first start."""
        return self.secret("node_key")

    def secret(self, name: str) -> str:
        """A random 32-byte secret (hex) kept under ``name``, made on first use: the node's
        key, and the NWC wallet service's key and its client's secret."""
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (name,)).fetchone()
        if row is not None:
            return str(row["value"])
        key = secrets.token_hex(32)
        self._db.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (name, key))
        return key

    def next_counter(self, name: str) -> int:
        """1, 2, 3, ... per name, persisted (created_index, pay_index, updated_index)."""
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (name,)).fetchone()
        value = int(row["value"]) + 1 if row is not None else 1
        self._db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?)"
            " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (name, str(value)),
        )
        return value

    def insert(self, table: str, row: dict[str, Any]) -> None:
        assert table in ("invoices", "payments")
        columns = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        self._db.execute(f"INSERT INTO {table} ({columns}) VALUES ({marks})", tuple(row.values()))  # noqa: S608 -- table and column names are ours

    def update(self, table: str, payment_hash: str, **fields: Any) -> None:
        assert table in ("invoices", "payments")
        assignments = ", ".join(f"{name} = ?" for name in fields)
        self._db.execute(
            f"UPDATE {table} SET {assignments} WHERE payment_hash = ?",  # noqa: S608 -- as above
            (*fields.values(), payment_hash),
        )

    def find(self, table: str, column: str, value: Any) -> dict[str, Any] | None:
        assert table in ("invoices", "payments")
        assert column in ("label", "payment_hash", "bolt11")
        row = self._db.execute(
            f"SELECT * FROM {table} WHERE {column} = ?",  # noqa: S608 -- as above
            (value,),
        ).fetchone()
        return dict(row) if row is not None else None

    def all(self, table: str) -> list[dict[str, Any]]:
        assert table in ("invoices", "payments")
        rows = self._db.execute(f"SELECT * FROM {table} ORDER BY created_index")  # noqa: S608
        return [dict(r) for r in rows]

    def first_paid_after(self, pay_index: int) -> dict[str, Any] | None:
        row = self._db.execute(
            "SELECT * FROM invoices WHERE pay_index > ? ORDER BY pay_index LIMIT 1", (pay_index,)
        ).fetchone()
        return dict(row) if row is not None else None

    def transactions(
        self, table: str, *, since: int, until: int, statuses: tuple[str, ...]
    ) -> list[dict[str, Any]]:
        """Rows created in [since, until] with one of ``statuses``, newest first."""
        assert table in ("invoices", "payments")
        marks = ", ".join("?" for _ in statuses)
        rows = self._db.execute(
            f"SELECT * FROM {table} WHERE created_at BETWEEN ? AND ?"  # noqa: S608 -- ours
            f" AND status IN ({marks}) ORDER BY created_at DESC, created_index DESC",
            (since, until, *statuses),
        )
        return [dict(r) for r in rows]

    def unpaid_expiring_by(self, now: int) -> list[str]:
        rows = self._db.execute(
            "SELECT payment_hash FROM invoices WHERE status = 'unpaid' AND expires_at <= ?",
            (now,),
        )
        return [str(r["payment_hash"]) for r in rows]


def read_payments(lightning_dir: Path, network: str = "regtest") -> list[SimPayment]:
    """The payments a simulated node made, read from its state file (running or not)."""
    path = state_path(lightning_dir, network)
    if not path.exists():
        return []
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    db.row_factory = sqlite3.Row
    try:
        rows = db.execute("SELECT * FROM payments ORDER BY created_index").fetchall()
    except sqlite3.OperationalError:
        return []  # the node has not created its tables yet
    finally:
        db.close()
    return [
        SimPayment(
            payment_hash=r["payment_hash"],
            bolt11=r["bolt11"],
            destination=r["destination"],
            amount_msat=r["amount_msat"],
            amount_sent_msat=r["amount_sent_msat"],
            status=r["status"],
            method=r["method"],
            created_at=r["created_at"],
            preimage=r["preimage"],
            failure_code=r["failure_code"],
        )
        for r in rows
    ]
