"""Chargers that drop off and come back, a central system that restarts, and many at once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from bot.ocpp.simcharger import SimCharger, SimSettings
from bot.store import Database
from bot.store.meter_log import transaction_chain, verify_chain
from tests.helpers import scaled, write_config
from tests.ocpp.support import RecordingEvents, Site, running_central, wait_until

FAST = {"clock_speed": 60.0, "sample_interval_s": 30, "reconnect_delay_s": 0.1}


@asynccontextmanager
async def simulated(
    site: Site, charger_id: str = "cp-001", **settings: Any
) -> AsyncIterator[SimCharger]:
    sim = SimCharger(
        SimSettings(site.url, charger_id, site.password_of(charger_id), **(FAST | settings))
    )
    task = asyncio.create_task(sim.run())
    try:
        await sim.wait_for(lambda: sim.boots >= 1, scaled(10))
        yield sim
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def charging(site: Site, sim: SimCharger, charger_id: str = "cp-001") -> int:
    assert await site.central.remote_start(charger_id, 1, "TAG-OK")
    await sim.wait_for(lambda: sim.connectors[1].transaction_id is not None, scaled(5))
    transaction_id = sim.connectors[1].transaction_id
    assert transaction_id is not None
    return transaction_id


def readings_of(site: Site, transaction_id: int) -> list[float | None]:
    return [
        s.energy_wh
        for e in site.events.named("meter_values")
        if e[2] == transaction_id
        for s in e[3]
    ]


async def test_a_drop_mid_transaction_is_picked_up_and_reconciled(site: Site) -> None:
    async with simulated(site) as sim:
        transaction_id = await charging(site, sim)
        await wait_until(lambda: len(readings_of(site, transaction_id)) >= 1)
        sim.disconnect(offline_s=0.3)
        await wait_until(lambda: ("cp-001", False) in site.events.named("charger_online"))
        await wait_until(lambda: site.central.is_online("cp-001"))
        # On reconnect the central system asks for the state of the open transaction's connector.
        await sim.wait_for(lambda: bool(sim.commands("TriggerMessage")), scaled(5))
        assert sim.commands("TriggerMessage")[0] == {
            "requested_message": "StatusNotification",
            "connector_id": 1,
        }
        before = len(readings_of(site, transaction_id))
        await wait_until(lambda: len(readings_of(site, transaction_id)) > before)
        assert await site.central.remote_stop("cp-001", transaction_id)
        await wait_until(lambda: bool(site.events.named("transaction_stopped")))
    assert (await verify_chain(site.db, transaction_chain(transaction_id))).ok


async def test_a_stop_while_offline_arrives_late_and_is_applied(site: Site) -> None:
    async with simulated(site) as sim:
        transaction_id = await charging(site, sim)
        sim.disconnect(offline_s=0.5)
        await wait_until(lambda: not site.central.is_online("cp-001"))
        sim.unplug(1)  # the car leaves while the charger is offline
        assert site.events.named("transaction_stopped") == []
        await wait_until(lambda: bool(site.events.named("transaction_stopped")))
    (stopped,) = site.events.named("transaction_stopped")
    assert stopped["transaction_id"] == transaction_id and stopped["reason"] == "EVDisconnected"
    row = await site.central.transactions.get(transaction_id)
    assert row is not None and row.stopped_at is not None and not row.open


async def test_late_end_readings_after_a_reconnect(site: Site) -> None:
    async with simulated(site, late_end_readings=True) as sim:
        transaction_id = await charging(site, sim)
        sim.disconnect(offline_s=0.3)
        await wait_until(lambda: not site.central.is_online("cp-001"))
        sim.unplug(1)
        await wait_until(lambda: bool(site.events.named("transaction_stopped")))
        await wait_until(
            lambda: any(
                e[2] == transaction_id and e[3][0].context == "Transaction.End"
                for e in site.events.named("meter_values")
            )
        )
    records = await site.central.meter_log.records(transaction_chain(transaction_id))
    assert records[-1].context == "Transaction.End" and records[-1].transaction_id == transaction_id


async def test_a_reboot_stops_the_transaction_and_boots_again(site: Site) -> None:
    async with simulated(site) as sim:
        transaction_id = await charging(site, sim)
        assert await site.central.reset("cp-001", "Hard") == "Accepted"
        await sim.wait_for(lambda: sim.boots == 2, scaled(5))
        await wait_until(lambda: bool(site.events.named("transaction_stopped")))
    (stopped,) = site.events.named("transaction_stopped")
    assert (stopped["transaction_id"], stopped["reason"]) == (transaction_id, "HardReset")


async def test_a_restarted_central_system_knows_the_open_transaction(tmp_path: Path) -> None:
    write_config(tmp_path, chargers=("cp-001",))
    db = await Database.open(tmp_path / "data" / "zapcharge.sqlite3")
    events = RecordingEvents(tags={"TAG-OK"})
    try:
        async with running_central(tmp_path, db=db, events=events) as first:
            port = first.port
            sim = SimCharger(SimSettings(first.url, "cp-001", first.password, **FAST))
            task = asyncio.create_task(sim.run())
            await sim.wait_for(lambda: sim.boots == 1, scaled(10))
            transaction_id = await charging(first, sim)
        await wait_until(lambda: not sim.connected)
        async with running_central(tmp_path, db=db, events=events, port=port) as second:
            await wait_until(lambda: second.central.is_online("cp-001"), within=10)
            assert [t.id for t in await second.central.open_transactions("cp-001")] == [
                transaction_id
            ]
            await wait_until(lambda: len(readings_of(second, transaction_id)) >= 2, within=10)
            assert await second.central.remote_stop("cp-001", transaction_id)
            await wait_until(lambda: bool(events.named("transaction_stopped")))
            assert sim.boots == 1  # a network drop, not a reboot
            assert await second.central.remote_start("cp-001", 1, "TAG-OK")
            await sim.wait_for(
                lambda: (sim.connectors[1].transaction_id or 0) > transaction_id, scaled(5)
            )
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        assert (await verify_chain(db, transaction_chain(transaction_id))).ok
    finally:
        await db.close()


@pytest.mark.slow
async def test_fifty_chargers_at_once(tmp_path: Path) -> None:
    ids = tuple(f"cp-{n:03d}" for n in range(50))
    async with running_central(tmp_path, chargers=ids) as site:
        site.events.tags.update(f"TAG-{n}" for n in range(50))
        sims = [SimCharger(SimSettings(site.url, i, site.password_of(i), **FAST)) for i in ids]
        tasks = [asyncio.create_task(s.run()) for s in sims]
        try:
            await wait_until(lambda: all(s.boots == 1 for s in sims), within=30)
            assert sorted(site.central.online_chargers()) == list(ids)
            starts = [site.central.remote_start(i, 1, f"TAG-{n}") for n, i in enumerate(ids)]
            assert all(await asyncio.gather(*starts))
            await wait_until(lambda: all(s.connectors[1].transaction_id for s in sims), within=30)
            transactions = [s.connectors[1].transaction_id for s in sims]
            assert len(set(transactions)) == 50
            await wait_until(
                lambda: all(len(readings_of(site, t)) >= 2 for t in transactions if t), within=30
            )
            stops = [
                site.central.remote_stop(i, t) for i, t in zip(ids, transactions, strict=True) if t
            ]
            assert all(await asyncio.gather(*stops))
            await wait_until(lambda: len(site.events.named("transaction_stopped")) == 50, within=30)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        for transaction_id in transactions:
            assert transaction_id is not None
            verdict = await verify_chain(site.db, transaction_chain(transaction_id))
            assert verdict.ok and verdict.length >= 4
