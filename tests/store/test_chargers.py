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
