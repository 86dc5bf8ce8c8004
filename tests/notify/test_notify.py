"""'Tell me when it is free', end to end: drivers DM the charger over a LocalRelay, the bot
(as ``zapcharge run`` runs it) watches the simulated charger over real websockets and DMs
back. A connector taken by a plugged-in car is busy; unplugging frees it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.helpers import scaled
from tests.reservations.support import Bot, Driver, bot_stack, wait_for

pytestmark = pytest.mark.slow

FREE = r"Harbour charger is free: connector 1 is available"


async def _busy(bot: Bot) -> None:
    assert bot.sim is not None
    bot.sim.plug_in(1)
    await wait_for(lambda: bot.status(1) == "Preparing", 10, "connector busy")


async def _free(bot: Bot) -> None:
    assert bot.sim is not None
    bot.sim.unplug(1)
    await wait_for(lambda: bot.status(1) == "Available", 10, "connector free")


def _count(texts: list[str], start: str) -> int:
    return sum(t.startswith(start) for t in texts)


async def test_told_once_when_free_with_the_price_and_how_to_pay(tmp_path: Path) -> None:
    async with bot_stack(tmp_path) as bot:
        await bot.charger()
        await _busy(bot)
        async with Driver([bot.relay_url]) as driver:
            await bot.dm(driver, "notify")
            confirmed = await bot.dm_matching(driver, r"^OK: I will DM you once")
            assert "for the next 6 h" in confirmed  # the default notify_max_hours
            await asyncio.sleep(scaled(1.5))
            assert _count(await bot.dm_texts(driver), "Harbour charger is free") == 0
            await _free(bot)
            told = await bot.dm_matching(driver, FREE)
            assert "Price 250 sat/kWh" in told
            assert f"cp-001@127.0.0.1:{bot.http_port}" in told
            # Once: busy and free again tells nobody a second time.
            await _busy(bot)
            await _free(bot)
            await asyncio.sleep(scaled(3))
            assert _count(await bot.dm_texts(driver), "Harbour charger is free") == 1
            assert [r["state"] for r in bot.rows("SELECT state FROM notify_requests")] == ["told"]


async def test_gives_up_after_notify_max_hours(tmp_path: Path) -> None:
    async with bot_stack(tmp_path, drivers="notify_max_hours = 0.001\n") as bot:  # 3.6 s
        await bot.charger()
        await _busy(bot)
        async with Driver([bot.relay_url]) as driver:
            await bot.dm(driver, "notify")
            await bot.dm_matching(driver, r"^OK: I will DM you once")
            text = await bot.dm_matching(driver, r"did not become free", 20)
            assert text == "Harbour charger did not become free within 0.001 h; I stopped waiting."
            await _free(bot)
            await asyncio.sleep(scaled(2))
            assert _count(await bot.dm_texts(driver), "Harbour charger is free") == 0
        assert [r["state"] for r in bot.rows("SELECT state FROM notify_requests")] == ["given_up"]


async def test_notify_off_cancels(tmp_path: Path) -> None:
    async with bot_stack(tmp_path) as bot:
        await bot.charger()
        await _busy(bot)
        async with Driver([bot.relay_url]) as driver:
            await bot.dm(driver, "notify")
            await bot.dm_matching(driver, r"^OK: I will DM you once")
            await bot.dm(driver, "Notify off")
            await bot.dm_matching(driver, r"^OK: no notice from Harbour charger")
            await _free(bot)
            await asyncio.sleep(scaled(3))
            assert _count(await bot.dm_texts(driver), "Harbour charger is free") == 0
            await bot.dm(driver, "notify off")
            await bot.dm_matching(driver, r"^You were not waiting for Harbour charger")


async def test_restart_while_waiting_still_tells(tmp_path: Path) -> None:
    async with bot_stack(tmp_path) as bot:
        await bot.charger()
        await _busy(bot)
        async with Driver([bot.relay_url]) as driver:
            await bot.dm(driver, "notify")
            await bot.dm_matching(driver, r"^OK: I will DM you once")
            await bot.stop()
            assert bot.sim is not None
            bot.sim.unplug(1)  # freed while the bot was down
            await bot.start()
            await bot.dm_matching(driver, FREE, 20)
            await asyncio.sleep(scaled(2))
            assert _count(await bot.dm_texts(driver), "Harbour charger is free") == 1
            # And the confirmation was not sent again by the restarted bot.
            assert _count(await bot.dm_texts(driver), "OK: I will DM you once") == 1


async def test_two_drivers_first_asked_first_told_next_only_if_still_free(
    tmp_path: Path,
) -> None:
    # Long enough for the second driver's zap to take the connector before the third's turn.
    async with bot_stack(tmp_path, drivers="notify_next_after_s = 8\n") as bot:
        await bot.charger()
        await _busy(bot)
        async with (
            Driver([bot.relay_url]) as first,
            Driver([bot.relay_url]) as second,
            Driver([bot.relay_url]) as third,
        ):
            for driver in (first, second, third):
                await bot.dm(driver, "notify")
                await bot.dm_matching(driver, r"^OK: I will DM you once")
            await _free(bot)
            await bot.dm_matching(first, FREE)
            await bot.dm_matching(second, FREE, 20)
            # The first had notify_next_after_s (8 s) to pay before the next was told.
            told = bot.rows(
                "SELECT driver_pubkey, ended_at FROM notify_requests WHERE state = 'told'"
            )
            at = {row["driver_pubkey"]: row["ended_at"] for row in told}
            assert set(at) == {first.pubkey, second.pubkey}
            assert at[second.pubkey] - at[first.pubkey] >= 8.0
            # The second pays: the connector is taken, the third is not told.
            payment_hash = await bot.zap(second, 1_000_000)
            await wait_for(lambda: bot.status(1) == "Charging", 20, "charging")
            await asyncio.sleep(scaled(3))
            assert _count(await bot.dm_texts(third), "Harbour charger is free") == 0
            await bot.dm(second, "stop")
            link = await bot.dm_matching(second, r"Your refund of", 30)
            refunded = await bot.claim_refund(link)
            await _free(bot)  # the car leaves
            await bot.dm_matching(third, FREE, 20)
        session = bot.session_of(payment_hash)
        assert session is not None
        await wait_for(lambda: bot.session(session["id"])["state"] == "closed", 15)
        row = bot.session(session["id"])
        kept = row["consumed_msat"] + row["fees_msat"]
        assert kept + row["refund_msat"] + row["waived_msat"] == row["paid_msat"] == 1_000_000
        assert refunded == row["refund_msat"]


async def test_free_now_one_pending_per_charger_and_help(tmp_path: Path) -> None:
    async with bot_stack(tmp_path) as bot:
        await bot.charger()
        async with Driver([bot.relay_url]) as driver:
            await bot.dm(driver, "notify")
            now = await bot.dm_matching(driver, r"^Harbour charger is free now")
            assert "Price 250 sat/kWh" in now
            await _busy(bot)
            await bot.dm(driver, "notify me")
            await bot.dm_matching(driver, r"^OK: I will DM you once")
            await bot.dm(driver, "Notify!")  # another text: the same rumor id is one message
            await bot.dm_matching(driver, r"^You are already waiting for Harbour charger")
            assert len(bot.rows("SELECT * FROM notify_requests")) == 1
            await bot.dm(driver, "help")
            help_text = await bot.dm_matching(driver, r"^Commands:")
            for word in ("'status'", "'stop'", "'notify'", "'notify off'", "'cancel'", "reserve"):
                assert word in help_text
            # A driver with no session is told every command too, in the same words.
            await bot.dm(driver, "stop")
            no_session = await bot.dm_matching(driver, r"^You have no session on this charger")
            assert no_session.endswith(help_text)
