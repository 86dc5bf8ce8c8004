"""The callback follows what a real charger reports over OCPP (central system + simulator)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from bot.ocpp import CentralSystem
from bot.ocpp.simcharger import SimCharger, SimSettings
from bot.store.chargers import ChargerStore
from tests.helpers import scaled
from tests.lnurl.support import Site, pay_site
from tests.ocpp.support import RecordingEvents

AMOUNT = 5_000_000


async def answer(site: Site) -> str:
    reply = await site.get("/lnurlp/cp-001/callback", amount=str(AMOUNT))
    return "invoice" if "pr" in reply else str(reply["reason"])


async def settle_on(site: Site, wanted: str) -> None:
    """Wait until the callback gives ``wanted`` (the OCPP side writes asynchronously)."""
    deadline = time.monotonic() + scaled(10)
    while (got := await answer(site)) != wanted:
        assert time.monotonic() < deadline, f"still {got!r}, wanted {wanted!r}"
        await asyncio.sleep(0.05)


async def test_offline_available_faulted_and_gone_as_the_charger_says(tmp_path: Path) -> None:
    async with pay_site(tmp_path, preset=False) as site:
        assert await answer(site) == "the charger is offline; try again when it is back"
        central = CentralSystem(site.config, site.db, RecordingEvents())
        charger = site.config.chargers[0]
        async with asyncio.TaskGroup() as group:
            serving = group.create_task(central.run())
            port = await asyncio.wait_for(central.started(), scaled(5))
            sim = SimCharger(
                SimSettings(
                    f"ws://127.0.0.1:{port}/ocpp/",
                    charger.id,
                    charger.ocpp_password,
                    reconnect_delay_s=0.1,
                )
            )
            running = group.create_task(sim.run())
            await sim.wait_for(lambda: sim.boots >= 1, scaled(10))
            await settle_on(site, "invoice")
            sim.fault()
            await settle_on(site, "connector 1 is Faulted, not Available")
            sim.clear_fault()
            await settle_on(site, "invoice")
            running.cancel()
            await settle_on(site, "the charger is offline; try again when it is back")
            row = await ChargerStore(site.db).get(charger.id)
            assert row is not None and not row.online
            serving.cancel()
