"""The sessions rows: compare-and-set writes and their log, without any rule of their own."""

from __future__ import annotations

import pytest

from bot.errors import StoreError
from bot.store.db import Database
from bot.store.sessions import SessionRows

ROW = {
    "id": "s-1",
    "charger_id": "cp-001",
    "connector_id": 1,
    "state": "a",
    "token": "t",
    "id_tag": "ZCTAG",
    "payer_pubkey": None,
    "payer_relays": "[]",
    "quote": "{}",
    "payment_hash": "ph-1",
}


@pytest.fixture
async def rows(db: Database) -> SessionRows:
    rows = SessionRows(db, clock=lambda: 5.0)
    await rows.insert(ROW)
    return rows


async def test_a_move_is_a_compare_and_set_with_its_log_row(rows: SessionRows) -> None:
    # The store knows no table: any names go, but only from the expected state.
    moved = await rows.move("s-1", ("a", "b", "e"), {"energy_wh": 7})
    assert moved is not None and moved["state"] == "b" and moved["energy_wh"] == 7
    assert await rows.move("s-1", ("a", "c", "e"), {}) is None
    assert [tuple(r) for r in await rows.history("s-1")] == [("a", "b", "e")]
    assert await rows.set("s-1", ["x", "b"], {"minutes": 3})
    assert [tuple(r) for r in await rows.history("s-1")] == [("a", "b", "e")]


async def test_column_names_must_be_plain_identifiers(rows: SessionRows) -> None:
    with pytest.raises(StoreError, match="not column names"):
        await rows.set("s-1", ["a"], {"energy_wh = 0, state": "z"})


async def test_a_row_born_moved_is_made_once(rows: SessionRows) -> None:
    born = {**ROW, "id": "s-2", "payment_hash": "ph-2", "token": "t2", "id_tag": "ZCTAG2"}
    del born["state"]
    moves = [("q", "p", "paid"), ("p", "f", "late")]
    assert await rows.insert_moved(born, moves) == "s-2"
    assert await rows.insert_moved({**born, "id": "s-3"}, moves) == "s-2"
    row = await rows.by_payment_hash("ph-2")
    assert row is not None and row["state"] == "f"
    assert [tuple(r) for r in await rows.history("s-2")] == [
        ("q", "p", "paid"),
        ("p", "f", "late"),
    ]
