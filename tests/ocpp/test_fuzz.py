"""The fuzz tier: a few thousand seeded hostile frames over one real websocket.

What must hold whatever a charger sends (issue 13): the connection stays up, every frame
gets exactly one answer with its own unique id, no answer is an InternalError, nothing
out of range is stored, and no reading that cannot be true reaches the session layer.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from bot.ocpp.plausible import MAX_REGISTER_WH
from tests.helpers import scaled
from tests.ocpp.fuzz import STATUSES, frames
from tests.ocpp.support import running_central

FUZZ_FRAMES = 2500


@pytest.mark.parametrize("seed", [13, 1301])
async def test_hostile_frames_never_cost_the_connection(tmp_path: Path, seed: int) -> None:
    loop = asyncio.get_running_loop()
    loop_errors: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _, context: loop_errors.append(context))
    transactions: list[int] = []
    codes: dict[str, int] = {}
    async with running_central(tmp_path) as site, site.raw() as raw:
        site.events.tags.add("TAG-OK")
        async with asyncio.timeout(scaled(120)):
            for frame in frames(seed, FUZZ_FRAMES, transactions):
                await raw.ws.send(frame.data)
                reply = json.loads(await asyncio.wait_for(raw.ws.recv(), scaled(5)))
                expected = (frame.unique_id,) if frame.readable else (frame.unique_id, "-1")
                assert reply[1] in expected, (frame, reply)
                if reply[0] == 4:
                    codes[reply[2]] = codes.get(reply[2], 0) + 1
                    assert reply[2] != "InternalError", (frame, reply)
                elif frame.action == "StartTransaction" and "transactionId" in reply[2]:
                    transactions.append(reply[2]["transactionId"])
            assert "currentTime" in await raw.ok("Heartbeat", {})
        assert raw.ws.close_code is None
        statuses = await site.central.chargers.statuses("cp-001")
        rows = await site.db.fetchall("SELECT * FROM transactions")
        events = site.events
    # Every kind of refusal was exercised, and most frames were still taken.
    assert {"FormationViolation", "PropertyConstraintViolation", "TypeConstraintViolation"} <= set(
        codes
    )
    assert sum(codes.values()) < FUZZ_FRAMES * 0.8
    assert set(statuses) <= {0, 1, 2}
    assert all(s.status in STATUSES for s in statuses.values())
    assert rows and all(r["connector_id"] in (1, 2) for r in rows)
    assert all(0 <= r["meter_start_wh"] <= MAX_REGISTER_WH for r in rows)
    start_of = {r["id"]: r["meter_start_wh"] for r in rows}
    for stopped in events.named("transaction_stopped"):
        assert stopped["meter_stop_wh"] >= start_of[stopped["transaction_id"]]
    billed = [
        (transaction_id, s.energy_wh)
        for _, _, transaction_id, samples in events.named("meter_values")
        for s in samples
        if s.energy_wh is not None
    ]
    assert billed
    for transaction_id, energy in billed:
        assert 0 <= energy <= MAX_REGISTER_WH
        if transaction_id in start_of:
            assert start_of[transaction_id] <= energy <= start_of[transaction_id] + 50_000
    assert loop_errors == []
