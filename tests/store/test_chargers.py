from __future__ import annotations

from pathlib import Path

from bot.store import Database
from bot.store.chargers import ANOMALY_RAW_LIMIT, BootInfo, ChargerStore, ConnectorState


async def test_online_boot_status_and_anomalies(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "z.sqlite3")
    try:
        store = ChargerStore(db)
        await store.connected("cp-1", "ab" * 32, 10.0)
        await store.booted("cp-1", BootInfo("Acme", "X1", "SN1", "1.0"), 11.0)
        row = await store.get("cp-1")
        assert row is not None and row.online and row.booted_at == 11.0
        assert row.boot == BootInfo("Acme", "X1", "SN1", "1.0")
        await store.set_status("cp-1", ConnectorState(1, "Charging", "NoError", None, 12.0, 12.5))
        await store.set_status("cp-1", ConnectorState(1, "Finishing", "NoError", "x", None, 13.0))
        assert (await store.statuses("cp-1"))[1].status == "Finishing"
        await store.disconnected("cp-1", 14.0)
        row = await store.get("cp-1")
        assert row is not None and not row.online and row.last_seen == 14.0
        raw = "x" * (ANOMALY_RAW_LIMIT + 10)
        await store.record_anomaly("cp-1", at=1.0, kind="refused", detail="too big", raw=raw)
        (anomaly,) = await store.anomalies("cp-1")
        assert anomaly.raw_length == len(raw) and len(anomaly.raw) == ANOMALY_RAW_LIMIT
        assert len(anomaly.raw_sha256) == 64
    finally:
        await db.close()


async def test_heartbeat_times_are_written_in_one_batch(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "z.sqlite3")
    try:
        store = ChargerStore(db)
        for n in range(3):
            await store.connected(f"cp-{n}", f"{n:02d}" * 32, 10.0)
        store.seen("cp-0", 20.0)
        store.seen("cp-1", 21.0)
        store.seen("cp-0", 22.0)
        on_disk = await db.fetchone("SELECT last_seen FROM chargers WHERE id = 'cp-0'")
        assert on_disk is not None and on_disk[0] == 10.0  # not written per Heartbeat
        row = await store.get("cp-0")
        assert row is not None and row.last_seen == 22.0  # but known at once
        assert await store.flush_seen() == 2
        assert await store.flush_seen() == 0
        rows = await db.fetchall("SELECT id, last_seen FROM chargers ORDER BY id")
        assert [(r["id"], r["last_seen"]) for r in rows] == [
            ("cp-0", 22.0),
            ("cp-1", 21.0),
            ("cp-2", 10.0),
        ]
    finally:
        await db.close()
