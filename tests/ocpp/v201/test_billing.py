"""TransactionEvent, MeterValues and StatusNotification from a raw 2.0.1 client onto our
transactions, the hash-chained meter log and the ChargerEvents seam."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from bot.store.meter_log import transaction_chain, verify_chain
from tests.ocpp.support import RawCharger, Site
from tests.ocpp.v201.support import transaction_event

EVSE = {"id": 1, "connectorId": 1}


@asynccontextmanager
async def station(site: Site) -> AsyncIterator[RawCharger]:
    async with site.raw(subprotocol="ocpp2.0.1") as raw:
        yield raw


async def _chain(site: Site, transaction_id: int) -> list[float | None]:
    records = await site.central.meter_log.records(transaction_chain(transaction_id))
    assert (await verify_chain(site.db, transaction_chain(transaction_id))).ok
    return [r.energy_wh for r in records]


async def test_a_transaction_from_started_to_ended(site: Site) -> None:
    async with station(site) as raw:
        started = transaction_event(
            "Started", 0, energy_wh=1000, token="TAG-OK", trigger="RemoteStart", evse=EVSE
        )
        assert await raw.ok("TransactionEvent", started) == {"idTokenInfo": {"status": "Accepted"}}
        [begun] = site.events.named("transaction_started")
        assert begun["id_tag"] == "TAG-OK" and begun["meter_start_wh"] == 1000
        assert begun["connector_id"] == 1
        ours = begun["transaction_id"]
        assert isinstance(ours, int)  # the seam keeps our integer ids
        assert (
            await raw.ok("TransactionEvent", transaction_event("Updated", 1, energy_wh=1500)) == {}
        )
        [(_, evse, tx, samples)] = site.events.named("meter_values")
        assert (evse, tx, samples[0].energy_wh) == (1, ours, 1500.0)
        ended = transaction_event("Ended", 2, energy_wh=1800, stoppedReason="EVDisconnected")
        await raw.ok("TransactionEvent", ended)
        [stopped] = site.events.named("transaction_stopped")
        assert stopped["transaction_id"] == ours and stopped["meter_stop_wh"] == 1800
        assert stopped["reason"] == "EVDisconnected"
        assert await _chain(site, ours) == [1000.0, 1500.0, 1800.0]
        row = await site.central.transactions.get(ours)
        assert row is not None and not row.open and row.meter_start_wh == 1000


async def test_a_repeated_seq_no_is_answered_but_not_applied_twice(site: Site) -> None:
    async with station(site) as raw:
        started = transaction_event("Started", 0, energy_wh=1000, token="TAG-OK", evse=EVSE)
        await raw.ok("TransactionEvent", started)
        update = transaction_event("Updated", 1, energy_wh=1200)
        await raw.ok("TransactionEvent", update)
        await raw.ok("TransactionEvent", update)  # our answer was lost: sent again
        assert len(site.events.named("meter_values")) == 1
        ours = site.events.named("transaction_started")[0]["transaction_id"]
        assert await _chain(site, ours) == [1000.0, 1200.0]


async def test_a_seq_no_gap_is_kept_and_the_late_event_fills_it(site: Site) -> None:
    async with station(site) as raw:
        started = transaction_event("Started", 0, energy_wh=1000, token="TAG-OK", evse=EVSE)
        await raw.ok("TransactionEvent", started)
        await raw.ok("TransactionEvent", transaction_event("Updated", 1, energy_wh=1100))
        await raw.ok("TransactionEvent", transaction_event("Updated", 4, energy_wh=1400))
        gaps = [a for a in await site.central.chargers.anomalies("cp-001") if "missing" in a.detail]
        assert len(gaps) == 1 and "seqNo 2..3 missing before 4" in gaps[0].detail
        # The missing ones come late (a replay): logged, not reported as the newest reading.
        late = transaction_event("Updated", 2, energy_wh=1200, offline=True)
        await raw.ok("TransactionEvent", late)
        assert [s[3][0].energy_wh for s in site.events.named("meter_values")] == [1100.0, 1400.0]
        ours = site.events.named("transaction_started")[0]["transaction_id"]
        assert await _chain(site, ours) == [1000.0, 1100.0, 1400.0, 1200.0]
        # Ended without readings stops at the newest register seen, not the late one.
        await raw.ok("TransactionEvent", transaction_event("Ended", 5))
        assert site.events.named("transaction_stopped")[0]["meter_stop_wh"] == 1400
        assert site.events.named("transaction_stopped")[0]["reason"] == "Local"


async def test_cable_first_the_token_and_reading_come_later(site: Site) -> None:
    async with station(site) as raw:
        plugged = transaction_event("Started", 0, trigger="CablePluggedIn", evse=EVSE)
        assert await raw.ok("TransactionEvent", plugged) == {}
        assert site.events.named("transaction_started") == []
        authorized = transaction_event(
            "Updated", 1, energy_wh=5000, token="TAG-OK", trigger="Authorized"
        )
        reply = await raw.ok("TransactionEvent", authorized)
        assert reply == {"idTokenInfo": {"status": "Accepted"}}
        [begun] = site.events.named("transaction_started")
        assert begun["meter_start_wh"] == 5000 and begun["id_tag"] == "TAG-OK"


async def test_an_unknown_token_is_invalid_and_never_reported(site: Site) -> None:
    async with station(site) as raw:
        started = transaction_event("Started", 0, energy_wh=10, token="NOPE", evse=EVSE)
        reply = await raw.ok("TransactionEvent", started)
        assert reply == {"idTokenInfo": {"status": "Invalid"}}
        await raw.ok("TransactionEvent", transaction_event("Ended", 1, energy_wh=12, token="NOPE"))
        assert site.events.named("transaction_started") == []
        assert site.events.named("transaction_stopped") == []


async def test_ended_readings_that_arrive_late_join_the_transaction(site: Site) -> None:
    async with station(site) as raw:
        started = transaction_event("Started", 0, energy_wh=100, token="TAG-OK", evse=EVSE)
        await raw.ok("TransactionEvent", started)
        await raw.ok("TransactionEvent", transaction_event("Ended", 1))
        ours = site.events.named("transaction_started")[0]["transaction_id"]
        late = {
            "evseId": 1,
            "meterValue": [transaction_event("Ended", 9, energy_wh=180)["meterValue"][0]],
        }
        assert await raw.ok("MeterValues", late) == {}
        assert await _chain(site, ours) == [100.0, 180.0]


async def test_status_and_charging_state_speak_the_1_6_words(site: Site) -> None:
    async with station(site) as raw:
        status = {"timestamp": "2026-01-05T10:00:00Z", "evseId": 1, "connectorId": 1}
        await raw.ok("StatusNotification", {**status, "connectorStatus": "Occupied"})
        started = transaction_event(
            "Started", 0, energy_wh=1, token="TAG-OK", evse=EVSE, chargingState="Charging"
        )
        await raw.ok("TransactionEvent", started)
        await raw.ok(
            "TransactionEvent", transaction_event("Updated", 1, chargingState="SuspendedEV")
        )
        await raw.ok("TransactionEvent", transaction_event("Ended", 2, energy_wh=2))
        await raw.ok("StatusNotification", {**status, "connectorStatus": "Available"})
        await raw.ok("StatusNotification", {**status, "connectorStatus": "Faulted"})
        seen = [(c, s, e) for _, c, s, e in site.events.named("connector_status")]
        assert seen == [
            (1, "Preparing", "NoError"),
            (1, "Charging", "NoError"),
            (1, "SuspendedEV", "NoError"),
            (1, "Finishing", "NoError"),
            (1, "Available", "NoError"),
            (1, "Faulted", "OtherError"),
        ]
        stored = await site.central.chargers.statuses("cp-001")
        assert stored[1].status == "Faulted"


async def test_malformed_billing_data_is_refused_with_2_0_1_codes(site: Site) -> None:
    async with station(site) as raw:
        no_info = transaction_event("Started", 0)
        del no_info["transactionInfo"]
        reply = await raw.call("TransactionEvent", no_info)
        assert reply[:3] == [4, reply[1], "OccurrenceConstraintViolation"]
        bad_kind = transaction_event("Begun", 0)
        assert (await raw.call("TransactionEvent", bad_kind))[2] == "PropertyConstraintViolation"
        bad_seq = transaction_event("Started", 0) | {"seqNo": "zero"}
        assert (await raw.call("TransactionEvent", bad_seq))[2] == "TypeConstraintViolation"
        status = {"timestamp": "x", "evseId": 1, "connectorId": 1, "connectorStatus": "Broken"}
        assert (await raw.call("StatusNotification", status))[2] == "PropertyConstraintViolation"
        refused = [
            a for a in await site.central.chargers.anomalies("cp-001") if a.kind == "refused"
        ]
        assert len(refused) == 4
        assert await raw.ok("Heartbeat", {})  # the connection stays


async def test_registers_that_cannot_be_true_are_kept_but_never_billed(site: Site) -> None:
    async with station(site) as raw:
        started = transaction_event("Started", 0, energy_wh=1000, token="TAG-OK", evse=EVSE)
        await raw.ok("TransactionEvent", started)
        slip = transaction_event("Updated", 1, energy_wh=5e6)  # a unit slip: not from 22 kW
        assert await raw.ok("TransactionEvent", slip) == {}
        [(_, _, _, samples)] = site.events.named("meter_values")
        assert samples[0].energy_wh is None and "5000000" in samples[0].raw
        await raw.ok("TransactionEvent", transaction_event("Ended", 2))
        assert site.events.named("transaction_stopped")[0]["meter_stop_wh"] == 1000
        dropped = [a.detail for a in await site.central.chargers.anomalies("cp-001")]
        assert any("could deliver" in d for d in dropped)


async def test_an_evse_that_is_not_configured_is_refused(site: Site) -> None:
    async with station(site) as raw:
        started = transaction_event("Started", 0, energy_wh=1, token="TAG-OK", evse={"id": 9})
        reply = await raw.call("TransactionEvent", started)
        assert reply[2] == "PropertyConstraintViolation" and "EVSE 9" in reply[3]
        status = {"timestamp": "2026-01-05T10:00:00Z", "evseId": 9, "connectorId": 1}
        reply = await raw.call("StatusNotification", status | {"connectorStatus": "Available"})
        assert reply[2] == "PropertyConstraintViolation"
        assert site.events.named("transaction_started") == []
