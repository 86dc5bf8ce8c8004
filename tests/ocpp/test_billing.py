"""Start/StopTransaction and MeterValues: what is stored, what is told, what is never lost."""

from __future__ import annotations

import json
from typing import Any

from bot.store.meter_log import transaction_chain, verify_chain
from tests.ocpp.support import RawCharger, Site

T0 = "2025-01-01T10:00:00Z"


def start(
    tag: str = "TAG-OK", meter: Any = 1000, at: str = T0, connector: int = 1
) -> dict[str, Any]:
    return {"connectorId": connector, "idTag": tag, "meterStart": meter, "timestamp": at}


def reading(energy: str, at: str, context: str = "Sample.Periodic") -> dict[str, Any]:
    return {
        "timestamp": at,
        "sampledValue": [
            {"value": energy, "context": context, "unit": "Wh"},
            {"value": "11000", "context": context, "measurand": "Power.Active.Import", "unit": "W"},
            {"value": "40", "context": context, "measurand": "SoC", "unit": "Percent"},
        ],
    }


async def started(raw: RawCharger, **kw: Any) -> int:
    reply = await raw.ok("StartTransaction", start(**kw))
    assert reply["idTagInfo"]["status"] == "Accepted", reply
    transaction_id: int = reply["transactionId"]
    return transaction_id


async def test_an_authorized_start_is_stored_and_told(site: Site) -> None:
    async with site.raw() as raw:
        transaction_id = await started(raw)
    row = await site.central.transactions.get(transaction_id)
    assert row is not None and row.open and row.authorized and row.meter_start_wh == 1000
    (event,) = site.events.named("transaction_started")
    assert event == {
        "charger_id": "cp-001",
        "connector_id": 1,
        "id_tag": "TAG-OK",
        "transaction_id": transaction_id,
        "meter_start_wh": 1000,
        "timestamp": T0,
    }
    (begin,) = await site.central.meter_log.records(transaction_chain(transaction_id))
    assert (begin.context, begin.energy_wh) == ("Transaction.Begin", 1000.0)
    assert json.loads(begin.raw) == start()


async def test_an_unknown_tag_gets_invalid_and_its_stop_is_kept_quietly(site: Site) -> None:
    async with site.raw() as raw:
        reply = await raw.ok("StartTransaction", start(tag="STRANGER"))
        assert reply["idTagInfo"]["status"] == "Invalid"
        transaction_id = reply["transactionId"]
        stop = {
            "transactionId": transaction_id,
            "meterStop": 1000,
            "timestamp": T0,
            "reason": "DeAuthorized",
        }
        assert await raw.ok("StopTransaction", stop) == {}
    row = await site.central.transactions.get(transaction_id)
    assert row is not None and not row.authorized and not row.open
    assert site.events.named("transaction_started") == []
    assert site.events.named("transaction_stopped") == []


async def test_a_tag_already_charging_cannot_start_again(site: Site) -> None:
    async with site.raw() as raw:
        await started(raw)
        reply = await raw.ok("StartTransaction", start(connector=2, at="2025-01-01T10:05:00Z"))
        assert reply["idTagInfo"]["status"] == "Invalid"
        assert (await raw.ok("Authorize", {"idTag": "TAG-OK"}))["idTagInfo"][
            "status"
        ] == "ConcurrentTx"


async def test_a_repeated_start_gets_the_same_id_and_event(site: Site) -> None:
    async with site.raw() as raw:
        first = await started(raw)
        assert await started(raw) == first
        # Quirk: meterStart as a string is taken.
        again = await raw.ok("StartTransaction", start(meter="1000"))
        assert again["transactionId"] == first
    assert [e["transaction_id"] for e in site.events.named("transaction_started")] == [first] * 3
    assert (await verify_chain(site.db, transaction_chain(first))).length == 1


async def test_meter_values_go_to_the_transaction_chain_and_the_events(site: Site) -> None:
    async with site.raw() as raw:
        transaction_id = await started(raw)
        payload = {
            "connectorId": 1,
            "transactionId": transaction_id,
            "meterValue": [reading("1500", "2025-01-01T10:01:00Z")],
        }
        assert await raw.ok("MeterValues", payload) == {}
        # Without transactionId (quirk: or with null): the connector's open transaction.
        for energy in ("1900", "2000"):
            unnamed = {"connectorId": 1, "transactionId": None, "meterValue": [reading(energy, T0)]}
            if energy == "2000":
                del unnamed["transactionId"]
            assert await raw.ok("MeterValues", unnamed) == {}
    events = site.events.named("meter_values")
    assert [(e[2], e[3][0].energy_wh, e[3][0].power_w, e[3][0].soc_percent) for e in events] == [
        (transaction_id, 1500.0, 11000.0, 40.0),
        (transaction_id, 1900.0, 11000.0, 40.0),
        (transaction_id, 2000.0, 11000.0, 40.0),
    ]
    verdict = await verify_chain(site.db, transaction_chain(transaction_id))
    assert verdict.ok and verdict.length == 4


async def test_readings_outside_transactions_are_kept_per_connector(site: Site) -> None:
    async with site.raw() as raw:
        assert (
            await raw.ok("MeterValues", {"connectorId": 2, "meterValue": [reading("5", T0)]}) == {}
        )
    assert site.events.named("meter_values")[0][:3] == ("cp-001", 2, None)
    assert (await verify_chain(site.db, "cp:cp-001:2")).length == 1


async def test_readings_naming_another_chargers_transaction_are_kept_aside(site: Site) -> None:
    async with site.raw("cp-002") as other:
        foreign = await started(other)
    async with site.raw() as raw:
        payload = {"connectorId": 1, "transactionId": foreign, "meterValue": [reading("9", T0)]}
        assert await raw.ok("MeterValues", payload) == {}
    assert (await verify_chain(site.db, transaction_chain(foreign))).length == 1  # untouched
    (kept,) = await site.central.meter_log.records("cp:cp-001:1")
    assert kept.transaction_id == foreign
    (anomaly,) = await site.central.chargers.anomalies("cp-001")
    assert anomaly.kind == "unapplied" and str(foreign) in anomaly.detail


async def test_a_stop_is_stored_with_its_readings_and_told(site: Site) -> None:
    async with site.raw() as raw:
        transaction_id = await started(raw)
        stop = {
            "transactionId": transaction_id,
            "meterStop": 3000,
            "timestamp": "2025-01-01T11:00:00Z",
            "reason": "Remote",
            "idTag": "TAG-OK",
            "transactionData": [reading("3000", "2025-01-01T11:00:00Z", "Transaction.End")],
        }
        assert await raw.ok("StopTransaction", stop) == {"idTagInfo": {"status": "Accepted"}}
        # Sent again (our answer was lost): same answer, same event, nothing stored twice.
        assert await raw.ok("StopTransaction", stop) == {"idTagInfo": {"status": "Accepted"}}
    row = await site.central.transactions.get(transaction_id)
    assert row is not None and (row.meter_stop_wh, row.stop_reason) == (3000, "Remote")
    events = site.events.named("transaction_stopped")
    assert len(events) == 2 and events[0] == events[1]
    assert (
        events[0]["meter_stop_wh"] == 3000 and events[0]["samples"][0].context == "Transaction.End"
    )
    records = await site.central.meter_log.records(transaction_chain(transaction_id))
    assert [r.context for r in records] == [
        "Transaction.Begin",
        "Transaction.End",
        "Transaction.End",
    ]
    assert "transactionData" not in json.loads(records[-1].raw)
    assert (await verify_chain(site.db, transaction_chain(transaction_id))).ok


async def test_a_different_second_stop_is_not_applied_but_kept(site: Site) -> None:
    async with site.raw() as raw:
        transaction_id = await started(raw)
        stop = {
            "transactionId": transaction_id,
            "meterStop": 3000,
            "timestamp": "2025-01-01T11:00:00Z",
        }
        await raw.ok("StopTransaction", stop)
        await raw.ok("StopTransaction", stop | {"meterStop": 9999})
    row = await site.central.transactions.get(transaction_id)
    assert row is not None and row.meter_stop_wh == 3000 and row.stop_reason == "Local"
    (anomaly,) = await site.central.chargers.anomalies("cp-001")
    assert "9999" in anomaly.raw and anomaly.kind == "unapplied"


async def test_a_stop_for_an_unknown_transaction_is_answered_and_kept(site: Site) -> None:
    async with site.raw() as raw:
        stop = {
            "transactionId": 424242,
            "meterStop": 10,
            "timestamp": T0,
            "transactionData": [reading("10", T0, "Transaction.End")],
        }
        assert await raw.ok("StopTransaction", stop) == {}
    (anomaly,) = await site.central.chargers.anomalies("cp-001")
    assert "424242" in anomaly.detail
    (orphan,) = await site.central.meter_log.records("cp:cp-001:0")
    assert orphan.transaction_id == 424242 and orphan.energy_wh == 10.0
    assert site.events.named("transaction_stopped") == []


async def test_late_end_readings_go_to_the_stopped_transaction(site: Site) -> None:
    async with site.raw() as raw:
        transaction_id = await started(raw)
        await raw.ok(
            "StopTransaction", {"transactionId": transaction_id, "meterStop": 2000, "timestamp": T0}
        )
        # With and without the transaction id, after the stop.
        named = {
            "connectorId": 1,
            "transactionId": transaction_id,
            "meterValue": [reading("2000", T0, "Transaction.End")],
        }
        unnamed = {"connectorId": 1, "meterValue": [reading("2000", T0, "Transaction.End")]}
        await raw.ok("MeterValues", named)
        await raw.ok("MeterValues", unnamed)
        # A periodic reading after the stop belongs to no transaction.
        await raw.ok("MeterValues", unnamed | {"meterValue": [reading("2000", T0)]})
    assert [e[2] for e in site.events.named("meter_values")] == [
        transaction_id,
        transaction_id,
        None,
    ]
    assert (await verify_chain(site.db, transaction_chain(transaction_id))).length == 4


async def test_a_failed_stop_event_is_retried_by_the_charger(site: Site) -> None:
    async with site.raw() as raw:
        transaction_id = await started(raw)
        stop = {"transactionId": transaction_id, "meterStop": 2000, "timestamp": T0}
        site.events.fail_next.add("transaction_stopped")
        assert (await raw.call("StopTransaction", stop))[2] == "InternalError"
        assert await raw.ok("StopTransaction", stop) == {}
    assert len(site.events.named("transaction_stopped")) == 2


async def test_unusable_billing_parts_are_logged_and_kept(site: Site) -> None:
    async with site.raw() as raw:
        transaction_id = await started(raw)
        payload = {
            "connectorId": 1,
            "transactionId": transaction_id,
            "meterValue": [reading("garbage", T0), {"timestamp": T0}],
        }
        assert await raw.ok("MeterValues", payload) == {}
    (anomaly,) = await site.central.chargers.anomalies("cp-001")
    assert anomaly.kind == "unapplied" and json.loads(anomaly.raw)[3] == payload
    records = await site.central.meter_log.records(transaction_chain(transaction_id))
    assert records[-1].energy_wh is None and "garbage" in records[-1].raw


async def test_a_connector_that_is_not_configured_is_refused_not_stored(site: Site) -> None:
    async with site.raw() as raw:
        for connector in (3, 12, 54592, 2**31 - 1, -1, 0):
            reply = await raw.call("StartTransaction", start(connector=connector))
            assert reply[:3] == [4, reply[1], "PropertyConstraintViolation"], reply
        for connector in (3, -1):
            payload = {"connectorId": connector, "meterValue": [reading("1000", T0)]}
            reply = await raw.call("MeterValues", payload)
            assert reply[2] == "PropertyConstraintViolation", reply
    assert await site.db.fetchall("SELECT * FROM transactions") == []
    assert await site.db.fetchall("SELECT * FROM meter_log") == []
    assert site.events.named("authorize_start") == []


async def test_registers_that_cannot_be_true_are_never_billed(site: Site) -> None:
    async with site.raw() as raw:
        negative = await raw.call("StartTransaction", start(meter=-5))
        assert negative[2] == "PropertyConstraintViolation", negative
        transaction_id = await started(raw)  # meterStart 1000 Wh at 10:00, 22 kW connector
        ten_past = "2025-01-01T10:10:00Z"  # at most ~5 kWh could flow by then
        for energy in ("-5", "900", "9e15", "50000", "1800"):
            payload = {
                "connectorId": 1,
                "transactionId": transaction_id,
                "meterValue": [reading(energy, ten_past)],
            }
            assert await raw.ok("MeterValues", payload) == {}
        stop = {"transactionId": transaction_id, "meterStop": 700, "timestamp": ten_past}
        assert await raw.ok("StopTransaction", stop) == {}
    told = [e[3][0].energy_wh for e in site.events.named("meter_values")]
    assert told == [None, None, None, None, 1800.0]
    (stopped,) = site.events.named("transaction_stopped")
    assert stopped["meter_stop_wh"] == 1000  # the falling meterStop bills nothing more
    details = [a.detail for a in await site.central.chargers.anomalies("cp-001")]
    assert any("below meterStart 1000" in d for d in details)
    assert any("more than 22000 W could deliver" in d for d in details)
    records = await site.central.meter_log.records(transaction_chain(transaction_id))
    assert [r.energy_wh for r in records][1:5] == [None, None, None, None]
    assert "9e15" in records[3].raw  # kept verbatim, not billed
