from __future__ import annotations

from bot.ocpp.events import UnwiredEvents


async def test_without_a_session_layer_no_idtag_is_authorized() -> None:
    events = UnwiredEvents()
    assert await events.authorize_start("cp-001", 1, "ANY") is False
    await events.charger_online("cp-001", True)
    await events.connector_status("cp-001", 1, "Available", "NoError")
    await events.meter_values("cp-001", 1, None, [])
