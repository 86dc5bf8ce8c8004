"""The simulated node's state file: named secrets, and an older file gains new columns."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from bot.lightning.simnode.state import SimState


def test_secrets_are_made_once_and_kept(tmp_path: Path) -> None:
    state = SimState(tmp_path / "s.sqlite3")
    first = state.secret("nwc.wallet_key")
    assert len(bytes.fromhex(first)) == 32
    assert state.secret("nwc.wallet_key") == first
    assert state.secret("nwc.client_secret") != first
    node_key = state.node_key()
    state.close()
    again = SimState(tmp_path / "s.sqlite3")
    assert again.secret("nwc.wallet_key") == first
    assert again.node_key() == node_key
    again.close()


def test_an_older_state_file_gains_the_new_columns(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    old = sqlite3.connect(path)
    old.execute(
        "CREATE TABLE invoices (created_index INTEGER PRIMARY KEY, label TEXT NOT NULL UNIQUE,"
        " payment_hash TEXT NOT NULL UNIQUE, preimage TEXT NOT NULL UNIQUE, bolt11 TEXT NOT NULL,"
        " description TEXT NOT NULL, deschashonly INTEGER NOT NULL, amount_msat INTEGER,"
        " status TEXT NOT NULL, expires_at INTEGER NOT NULL, pay_index INTEGER UNIQUE,"
        " amount_received_msat INTEGER, paid_at INTEGER, updated_index INTEGER)"
    )
    old.execute(
        "INSERT INTO invoices VALUES (1, 'l', 'h', 'p', 'lnbcrt1', 'd', 0, 5, 'unpaid', 9,"
        " NULL, NULL, NULL, NULL)"
    )
    old.commit()
    old.close()
    state = SimState(path)
    row = state.find("invoices", "label", "l")
    state.close()
    assert row is not None
    assert row["description_hash"] is None
    assert row["created_at"] is None
    assert row["amount_msat"] == 5
