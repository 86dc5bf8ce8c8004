"""The simulated 2.0.1 station against the real central system: offline TransactionEvents
replayed in order after a reconnect, and the Ended of an unplug while away."""

from __future__ import annotations

import time

from bot.store.meter_log import transaction_chain, verify_chain
from tests.helpers import scaled
from tests.ocpp.support import Site, wait_until
from tests.ocpp.v201.test_server import station


async def _seq_nos(site: Site, transaction_id: int) -> list[tuple[int, int]]:
    rows = await site.db.fetchall(
        "SELECT seq_no, offline FROM ocpp201_events WHERE transaction_id = ? ORDER BY rowid",
        (transaction_id,),
    )
    return [(r["seq_no"], r["offline"]) for r in rows]


async def test_events_of_an_outage_are_replayed_in_order(site: Site) -> None:
    async with station(site, power_w=11_000, sample_interval_s=60, clock_speed=120.0) as sim:
        assert await site.central.remote_start("cp-001", 1, "TAG-OK")
        await wait_until(lambda: len(site.events.named("meter_values")) >= 2)
        ours = site.events.named("transaction_started")[0]["transaction_id"]
        before = len(site.events.named("meter_values"))
        sim.disconnect(offline_s=3.0)  # 6 simulated minutes: 6 samples while away
        await sim.wait_for(lambda: not sim.connected, scaled(5))
        await sim.wait_for(lambda: sim.connected, scaled(10))
        await wait_until(lambda: len(site.events.named("meter_values")) >= before + 5, 10)
        assert await site.central.remote_stop("cp-001", ours)
        await wait_until(lambda: bool(site.events.named("transaction_stopped")))
    seen = await _seq_nos(site, ours)
    assert [n for n, _ in seen] == list(range(len(seen)))  # every seqNo once, in order
    assert sum(offline for _, offline in seen) >= 5
    anomalies = await site.central.chargers.anomalies("cp-001")
    assert not [a for a in anomalies if "missing" in a.detail]
    readings = [s for e in site.events.named("meter_values") for s in e[3]]
    stamps = [s.timestamp for s in readings]
    assert stamps == sorted(stamps)  # the replay kept the station's own times, in order
    energies = [s.energy_wh for s in readings]
    assert energies == sorted(energies)
    verdict = await verify_chain(site.db, transaction_chain(ours))
    assert verdict.ok and verdict.length == len(seen)


async def test_an_unplug_while_offline_ends_the_transaction_after_the_reconnect(
    site: Site,
) -> None:
    async with station(site, clock_speed=60.0) as sim:
        assert await site.central.remote_start("cp-001", 1, "TAG-OK")
        await wait_until(lambda: bool(site.events.named("transaction_started")))
        await sim.wait_for(lambda: sim.connectors[1].status == "Charging", scaled(5))
        sim.disconnect(offline_s=1.0)
        await sim.wait_for(lambda: not sim.connected, scaled(5))
        sim.unplug(1)
        await wait_until(lambda: bool(site.events.named("transaction_stopped")), 10)
        await wait_until(lambda: site.events.named("connector_status")[-1][2] == "Available")
    [stopped] = site.events.named("transaction_stopped")
    assert stopped["reason"] == "EVDisconnected"
    ended = await site.db.fetchone("SELECT offline FROM ocpp201_events WHERE event_type = 'Ended'")
    assert ended is not None and ended["offline"] == 1
    last_status = site.events.named("connector_status")[-1]
    assert last_status[1:3] == (1, "Available")  # the car is gone, the EVSE is free again


def _last_status(site: Site) -> str | None:
    statuses = [status for _, _, status, _ in site.events.named("connector_status")]
    return statuses[-1] if statuses else None


async def test_a_reservation_holds_the_evse_for_its_token_and_expires(site: Site) -> None:
    async with station(site, clock_speed=1.0) as sim:
        central = site.central
        until = time.time() + 1.5
        answer = await central.reserve_now(
            "cp-001", 1, until=until, id_tag="TAG-R", reservation_id=7
        )
        assert answer == "Accepted"
        await wait_until(lambda: _last_status(site) == "Reserved")
        # Held: another token cannot start there, nor reserve it.
        assert not await central.remote_start("cp-001", 1, "TAG-OTHER")
        again = await central.reserve_now(
            "cp-001", 1, until=until, id_tag="TAG-X", reservation_id=8
        )
        assert again == "Occupied"
        # Its time runs out: the station says so (H01.FR.17), the CSMS answers, and the
        # EVSE is free again.
        await sim.wait_for(lambda: sim.connectors[1].reservation is None, scaled(10))
        await wait_until(lambda: any(a == "ReservationStatusUpdate" for a, _ in sim.sent), 10)
        [update] = [r for a, r in sim.sent if a == "ReservationStatusUpdate"]
        assert update is not None  # a result, not a CALLERROR
        await wait_until(lambda: _last_status(site) == "Available")
        assert await central.cancel_reservation("cp-001", 7) is False  # nothing left to cancel
