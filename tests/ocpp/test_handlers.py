"""The non-billing handlers, over a real websocket."""

from __future__ import annotations

from tests.ocpp.support import Site

BOOT = {
    "chargePointVendor": "Acme",
    "chargePointModel": "Wallbox 22",
    "chargePointSerialNumber": "SN-1",
    "firmwareVersion": "4.2",
}


async def test_boot_notification_is_accepted_and_stored(site: Site) -> None:
    async with site.raw() as raw:
        reply = await raw.ok("BootNotification", BOOT)
        assert reply["status"] == "Accepted"
        assert reply["interval"] == site.config.ocpp.heartbeat_interval_s
        assert reply["currentTime"].endswith("Z")
    row = await site.central.chargers.get("cp-001")
    assert row is not None and row.boot is not None
    assert (row.boot.vendor, row.boot.model, row.boot.serial_number, row.boot.firmware_version) == (
        "Acme",
        "Wallbox 22",
        "SN-1",
        "4.2",
    )


async def test_heartbeat_answers_the_time_and_marks_seen(site: Site) -> None:
    async with site.raw() as raw:
        assert "currentTime" in await raw.ok("Heartbeat", {})
    row = await site.central.chargers.get("cp-001")
    assert row is not None and row.last_seen is not None


async def test_authorize_asks_the_session_layer(site: Site) -> None:
    async with site.raw() as raw:
        assert (await raw.ok("Authorize", {"idTag": "TAG-OK"}))["idTagInfo"]["status"] == "Accepted"
        assert (await raw.ok("Authorize", {"idTag": "STRANGER"}))["idTagInfo"][
            "status"
        ] == "Invalid"
    # No remote start was sent for these tags: connector 0 means "any connector".
    assert site.events.named("authorize_start") == [
        ("cp-001", 0, "TAG-OK"),
        ("cp-001", 0, "STRANGER"),
    ]


async def test_authorize_after_a_remote_start_names_its_connector(site: Site) -> None:
    async with site.raw() as raw:
        site.central._context.remote_starts.sent("cp-001", "TAG-OK", 2, 0.0)
        assert (await raw.ok("Authorize", {"idTag": "TAG-OK"}))["idTagInfo"]["status"] == "Accepted"
    assert site.events.named("authorize_start") == [("cp-001", 2, "TAG-OK")]


async def test_data_transfer_is_refused_politely(site: Site) -> None:
    async with site.raw() as raw:
        reply = await raw.ok(
            "DataTransfer", {"vendorId": "com.acme", "messageId": "x", "data": "y"}
        )
        assert reply == {"status": "UnknownVendorId"}


async def test_firmware_and_diagnostics_notifications_are_acknowledged(site: Site) -> None:
    async with site.raw() as raw:
        assert await raw.ok("FirmwareStatusNotification", {"status": "Idle"}) == {}
        assert await raw.ok("DiagnosticsStatusNotification", {"status": "Idle"}) == {}


async def test_status_notification_is_stored_and_told(site: Site) -> None:
    async with site.raw() as raw:
        payload = {
            "connectorId": 1,
            "status": "Faulted",
            "errorCode": "GroundFailure",
            "info": "RCD",
            "timestamp": "2025-01-01T00:00:00Z",
        }
        assert await raw.ok("StatusNotification", payload) == {}
        # Quirk: a missing error code is taken as NoError.
        assert await raw.ok("StatusNotification", {"connectorId": 2, "status": "Preparing"}) == {}
        # A status outside the 1.6 enum (here a 2.0.1 one) or a connector not configured is
        # refused: stored, it would be published and trusted by the session layer.
        for refused in (
            {"connectorId": 2, "status": "Occupied"},
            {"connectorId": 3, "status": "Available"},
        ):
            reply = await raw.call("StatusNotification", refused)
            assert reply[:3] == [4, reply[1], "PropertyConstraintViolation"], reply
    states = await site.central.chargers.statuses("cp-001")
    assert (states[1].status, states[1].error_code, states[1].info) == (
        "Faulted",
        "GroundFailure",
        "RCD",
    )
    assert states[1].reported_at == 1735689600.0
    assert (states[2].status, states[2].error_code) == ("Preparing", "NoError")
    assert 3 not in states
    assert site.events.named("connector_status") == [
        ("cp-001", 1, "Faulted", "GroundFailure"),
        ("cp-001", 2, "Preparing", "NoError"),
    ]


async def test_an_event_that_fails_is_an_internal_error_for_start(site: Site) -> None:
    site.events.fail_next.add("authorize_start")
    async with site.raw() as raw:
        reply = await raw.call(
            "StartTransaction",
            {
                "connectorId": 1,
                "idTag": "TAG-OK",
                "meterStart": 5,
                "timestamp": "2025-01-01T00:00:00Z",
            },
        )
        assert reply[:3] == [4, "c1", "InternalError"]
        assert "currentTime" in await raw.ok("Heartbeat", {})
