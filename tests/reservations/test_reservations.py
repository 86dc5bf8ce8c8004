"""Reservations by zap, end to end: the bot as ``zapcharge run`` runs it, a LocalRelay, the
simulated Lightning nodes and a simulated charger over real websockets. Each test follows
the fee to where it ends (kept, counted toward the charge, or refunded) and checks that
every paid msat is accounted for exactly once."""

from __future__ import annotations

import json
import time
from pathlib import Path

import nostr_sdk
import pytest

from bot.errors import LnurlError
from bot.lnurl.codec import decode_lnurl
from bot.reservations.book import ReservationBook
from bot.reservations.machine import Event, State
from bot.reservations.service import new_id_tag, new_token
from bot.sessions.tariff import make_quote
from bot.store import Database
from tests.reservations.support import Bot, Driver, books_of_reservation, bot_stack, wait_for

pytestmark = pytest.mark.slow

FEE = 200_000  # msat, from the identity's [tariff] in support.bot_stack


async def _reserved(bot: Bot, driver: Driver) -> str:
    payment_hash = await bot.zap(driver, FEE, "reserve")
    await wait_for(lambda: bot.reservation_state() == "reserved", 15, "reservation held")
    await wait_for(lambda: bot.status(1) == "Reserved", 15, "the charger reports Reserved")
    return payment_hash


async def _status_event(bot: Bot, driver: Driver) -> dict[str, object]:
    charger = nostr_sdk.PublicKey.parse(bot.config.chargers[0].keys.public_key_hex)
    query = nostr_sdk.Filter().kind(nostr_sdk.Kind(33600)).author(charger)

    async def newest_reserved() -> dict[str, object] | None:
        events = sorted(await driver.fetch_json(query), key=lambda e: e["created_at"])
        tags = [t[:3] for t in events[-1]["tags"] if t[0] == "connector"] if events else []
        return events[-1] if tags == [["connector", "1", "Reserved"]] else None

    found: dict[str, object] = await wait_for(newest_reserved, 20, "a 33600 saying Reserved")
    return found


@pytest.mark.parametrize("ocpp", ["1.6", "2.0.1"])
async def test_reserve_then_charge_counts_the_fee_toward_the_session(
    tmp_path: Path, ocpp: str
) -> None:
    async with bot_stack(tmp_path) as bot:
        sim = await bot.charger(ocpp)
        async with Driver([bot.relay_url]) as driver, Driver([bot.relay_url]) as other:
            fee_hash = await _reserved(bot, driver)
            text = await bot.dm_matching(driver, r"^Reserved: connector 1 is held for you")
            assert "fee 200 sat" in text
            assert sim.connectors[1].reservation is not None
            # The status event says Reserved and nothing about who reserved it.
            event = await _status_event(bot, other)
            assert driver.pubkey not in json.dumps(event)
            assert ["reservation", "1", "200000", "msat"] in event["tags"]  # type: ignore[operator]
            # Nobody else may charge there meanwhile, nor reserve it again.
            with pytest.raises(LnurlError, match="reserved for another driver"):
                await bot.zap(other, 1_000_000)
            with pytest.raises(LnurlError, match="connector 1 is reserved"):
                await bot.zap(other, FEE, "reserve")
            # The driver's own charge: the reservation moves to the session's idTag.
            charge_hash = await bot.zap(driver, 1_000_000)
            session = await wait_for(lambda: bot.session_of(charge_hash), 10, "the session")
            await wait_for(lambda: bot.reservation_state() == "credited", 20, "fee credited")
            reserve_now = sim.commands("ReserveNow")
            assert [c["id_tag"] for c in reserve_now][-1] == session["id_tag"]
            await wait_for(lambda: bot.session(session["id"])["state"] == "charging", 20)
            assert bot.session(session["id"])["paid_msat"] == 1_000_000 + FEE
            await bot.dm_matching(driver, r"reservation fee of 200 sat counts toward")
            await bot.dm(driver, "stop")
            link = await bot.dm_matching(driver, r"Your refund of", 30)
            refunded = await bot.claim_refund(link)
            await wait_for(lambda: bot.session(session["id"])["state"] == "closed", 20)
        books = books_of_reservation(bot)
        assert books == {"paid": FEE, "kept": 0, "credited": FEE, "refunded": 0}
        row = bot.session(session["id"])
        kept = row["consumed_msat"] + row["fees_msat"]
        assert kept + row["refund_msat"] + row["waived_msat"] == 1_200_000
        assert refunded == row["refund_msat"] > 0
        assert bot.rows("SELECT * FROM reservations WHERE payment_hash = ?", (fee_hash,))


@pytest.mark.parametrize("ocpp", ["1.6", "2.0.1"])
async def test_time_runs_out_and_the_fee_is_kept(tmp_path: Path, ocpp: str) -> None:
    tariff = "reservation_minutes = 0.05\nreservation_fee_msat = 200000\n"  # 3 s
    async with bot_stack(tmp_path, tariff=tariff) as bot:
        sim = await bot.charger(ocpp)
        async with Driver([bot.relay_url]) as driver:
            await _reserved(bot, driver)
            await wait_for(lambda: bot.reservation_state() == "expired", 15, "expired")
            await bot.dm_matching(driver, r"ended unused; the fee of 200 sat is kept")
            await wait_for(lambda: bot.status(1) == "Available", 15, "connector free again")
            assert sim.connectors[1].reservation is None
        assert books_of_reservation(bot) == {
            "paid": FEE,
            "kept": FEE,
            "credited": 0,
            "refunded": 0,
        }
        assert not bot.rows("SELECT * FROM refunds")


@pytest.mark.parametrize("ocpp", ["1.6", "2.0.1"])
async def test_charger_refuses_and_the_fee_goes_back_whole(tmp_path: Path, ocpp: str) -> None:
    async with bot_stack(tmp_path) as bot:
        sim = await bot.charger(ocpp)
        async with Driver([bot.relay_url]) as driver:
            # A car plugged in before the charger reported it: the charger says Occupied.
            sim.connectors[1].plugged = True
            await bot.zap(driver, FEE, "reserve")
            await wait_for(lambda: bot.reservation_state() == "refunded", 15, "refunded")
            text = await bot.dm_matching(driver, r"could not be kept")
            assert "charger answered Occupied" in text
            link = await bot.dm_matching(driver, r"Your refund of 200 sat", 20)
            assert await bot.claim_refund(link) == FEE
        assert books_of_reservation(bot) == {
            "paid": FEE,
            "kept": 0,
            "credited": 0,
            "refunded": FEE,
        }
        refund = bot.session(bot.reservation()["refund_session_id"])
        await wait_for(lambda: bot.session(refund["id"])["state"] == "closed", 15)


@pytest.mark.parametrize("ocpp", ["1.6", "2.0.1"])
async def test_cancel_gives_back_the_unused_share(tmp_path: Path, ocpp: str) -> None:
    tariff = "reservation_minutes = 5\nreservation_fee_msat = 200000\n"
    async with bot_stack(tmp_path, tariff=tariff) as bot:
        sim = await bot.charger(ocpp)
        async with Driver([bot.relay_url]) as driver:
            await _reserved(bot, driver)
            await bot.dm(driver, "status")
            await bot.dm_matching(driver, r"Reservation: connector 1 held until \d\d:\d\d UTC")
            await bot.dm(driver, "cancel")
            answer = await bot.dm_matching(driver, r"^Reservation cancelled")
            r = bot.reservation()
            assert r["state"] == "refunded"
            # Cancelled within seconds of a 5 minute reservation: most of it goes back.
            assert FEE * 0.9 < r["refund_msat"] < FEE
            assert r["kept_msat"] + r["refund_msat"] == FEE
            assert f"{r['refund_msat'] / 1000:,.3f}".rstrip("0").rstrip(".") in answer
            await wait_for(lambda: sim.connectors[1].reservation is None, 10, "released")
            assert sim.commands("CancelReservation") == [{"reservation_id": r["id"]}]
            link = await bot.dm_matching(driver, r"Your refund of", 20)
            assert await bot.claim_refund(link) == r["refund_msat"]
            await bot.dm(driver, "Cancel")  # another text: the same rumor id is one message
            await bot.dm_matching(driver, r"You have no reservation on this charger")
        books = books_of_reservation(bot)
        assert books["kept"] + books["refunded"] == books["paid"] == FEE


async def test_charger_offline_refunds_the_fee_and_releases_it_later(tmp_path: Path) -> None:
    async with bot_stack(tmp_path) as bot:
        sim = await bot.charger()
        async with Driver([bot.relay_url]) as driver:
            await _reserved(bot, driver)
            sim.disconnect(offline_s=13.0)  # longer than disconnect_timeout_s = 10
            await wait_for(lambda: bot.reservation_state() == "refunded", 20, "refunded")
            await bot.dm_matching(driver, r"could not be kept \(charger offline\)")
            # Back online, the charger still holds it: the bot cancels it there.
            await wait_for(lambda: sim.connectors[1].reservation is None, 20, "released")
            await wait_for(lambda: not bot.reservation()["release_pending"], 10)
            link = await bot.dm_matching(driver, r"Your refund of 200 sat", 20)
            assert await bot.claim_refund(link) == FEE
        assert books_of_reservation(bot)["refunded"] == FEE


@pytest.mark.parametrize("ocpp", ["1.6", "2.0.1"])
async def test_fault_refunds_the_fee_whole(tmp_path: Path, ocpp: str) -> None:
    async with bot_stack(tmp_path) as bot:
        sim = await bot.charger(ocpp)
        async with Driver([bot.relay_url]) as driver:
            await _reserved(bot, driver)
            sim.fault(1)
            await wait_for(lambda: bot.reservation_state() == "refunded", 15, "refunded")
            await bot.dm_matching(driver, r"could not be kept \(charger fault\)")
        assert books_of_reservation(bot) == {
            "paid": FEE,
            "kept": 0,
            "credited": 0,
            "refunded": FEE,
        }


async def test_restart_while_reserved_keeps_it_and_still_expires(tmp_path: Path) -> None:
    tariff = "reservation_minutes = 0.4\nreservation_fee_msat = 200000\n"  # 24 s
    async with bot_stack(tmp_path, tariff=tariff) as bot:
        sim = await bot.charger()
        async with Driver([bot.relay_url]) as driver:
            await _reserved(bot, driver)
            # (A stop while that DM is on its way would lose it rather than send it twice.)
            await bot.dm_matching(driver, r"^Reserved:")
            await bot.restart()
            assert bot.reservation_state() == "reserved"
            await wait_for(lambda: bot.reservation_state() == "expired", 40, "expired")
            await wait_for(lambda: sim.connectors[1].reservation is None, 10)
            # One ReserveNow, one reservation, one "reserved" DM: nothing was done twice.
            assert len(sim.commands("ReserveNow")) == 1
            await bot.dm_matching(driver, r"ended unused")
            texts = await bot.dm_texts(driver)
            assert sum(t.startswith("Reserved:") for t in texts) == 1
        assert books_of_reservation(bot)["kept"] == FEE


async def test_wallet_only_driver_reserves_and_cancels_on_the_page(tmp_path: Path) -> None:
    async with bot_stack(tmp_path) as bot:
        await bot.charger()
        url = f"http://127.0.0.1:{bot.http_port}/.well-known/lnurlp/cp-001.1?reserve=1"
        paid = await bot.lnurl_pay(url, FEE)
        assert paid["offer"]["minSendable"] == paid["offer"]["maxSendable"] == FEE
        await wait_for(lambda: bot.reservation_state() == "reserved", 15, "reserved")
        token = bot.reservation()["token"]
        page = f"http://127.0.0.1:{bot.http_port}/r/{token}"
        async with bot.http.get(page + "/status.json") as answer:
            status = await answer.json()
        assert status["state"] == "reserved" and status["charge_lnurl"]
        # Another wallet cannot charge there; the page's charge link can.
        plain = f"http://127.0.0.1:{bot.http_port}/.well-known/lnurlp/cp-001.1"
        refused = await bot.callback(plain, amount="1000000")
        assert refused["status"] == "ERROR" and "reserved" in refused["reason"]
        async with bot.http.post(page + "/cancel") as answer:
            assert "Reservation cancelled" in (await answer.json())["message"]
        await wait_for(lambda: bot.reservation_state() == "refunded", 10)
        async with bot.http.get(page + "/status.json") as answer:
            status = await answer.json()
        refund_page = status["refund_page"]
        assert refund_page

        async def offered() -> str | None:
            async with bot.http.get(refund_page + "/status.json") as answer:
                return (await answer.json())["refund_lnurl"]

        lnurl = await wait_for(offered, 20, "the refund QR on the session page")
        amount = await bot.claim_refund(lnurl)
        assert amount == bot.reservation()["refund_msat"]
        books = books_of_reservation(bot)
        assert books["kept"] + books["refunded"] == FEE


async def test_a_station_without_reservations_refunds_the_fee_whole(tmp_path: Path) -> None:
    """A 2.0.1 station without the optional reservation feature answers ReserveNow with a
    CALLERROR: the bot refunds the fee and asks it to cancel nothing."""
    async with bot_stack(tmp_path) as bot:
        sim = await bot.charger(ocpp="2.0.1", takes_reservations=False)
        async with Driver([bot.relay_url]) as driver:
            await bot.zap(driver, FEE, "reserve")
            await wait_for(lambda: bot.reservation_state() == "refunded", 15, "refunded")
            text = await bot.dm_matching(driver, r"could not be kept")
            assert "charger takes no reservations" in text
            link = await bot.dm_matching(driver, r"Your refund of 200 sat", 20)
            assert await bot.claim_refund(link) == FEE
        assert not bot.reservation()["release_pending"]
        assert not sim.commands("CancelReservation")
        assert books_of_reservation(bot) == {
            "paid": FEE,
            "kept": 0,
            "credited": 0,
            "refunded": FEE,
        }


async def test_wallet_only_driver_charges_with_the_pages_charge_link(tmp_path: Path) -> None:
    async with bot_stack(tmp_path) as bot:
        sim = await bot.charger()
        base = f"http://127.0.0.1:{bot.http_port}"
        await bot.lnurl_pay(f"{base}/.well-known/lnurlp/cp-001.1?reserve=1", FEE)
        await wait_for(lambda: bot.reservation_state() == "reserved", 15, "reserved")
        async with bot.http.get(f"{base}/r/{bot.reservation()['token']}/status.json") as answer:
            charge_lnurl = (await answer.json())["charge_lnurl"]
        paid = await bot.lnurl_pay(decode_lnurl(charge_lnurl), 1_000_000)
        await wait_for(lambda: bot.reservation_state() == "credited", 20, "fee credited")
        session = bot.session(bot.reservation()["credited_session_id"])
        assert session["payer_pubkey"] is None
        assert sim.commands("ReserveNow")[-1]["id_tag"] == session["id_tag"]
        await wait_for(lambda: bot.session(session["id"])["state"] == "charging", 20)
        assert bot.session(session["id"])["paid_msat"] == 1_000_000 + FEE
        async with bot.http.post(f"{base}/s/{session['token']}/stop") as answer:
            assert answer.status == 200
        await wait_for(lambda: bot.session(session["id"])["state"] == "refunding", 30)

        async def offered() -> str | None:
            async with bot.http.get(f"{base}/s/{session['token']}/status.json") as answer:
                return (await answer.json())["refund_lnurl"]

        refunded = await bot.claim_refund(await wait_for(offered, 20, "the refund QR"))
        await wait_for(lambda: bot.session(session["id"])["state"] == "closed", 20)
        row = bot.session(session["id"])
        kept = row["consumed_msat"] + row["fees_msat"]
        assert kept + row["refund_msat"] + row["waived_msat"] == 1_200_000
        assert refunded == row["refund_msat"]
        assert paid["offer"]["callback"].endswith("?reservation=" + bot.reservation()["token"])
        assert books_of_reservation(bot)["credited"] == FEE


async def test_restart_while_reserve_now_may_be_on_the_wire_sends_it_again(
    tmp_path: Path,
) -> None:
    """Killed after ``reserving`` was stored: the restarted bot sends ReserveNow again with
    the same reservationId (the charger replaces, never doubles, a reservation)."""
    async with bot_stack(tmp_path) as bot:
        sim = await bot.charger()
        await bot.stop()
        db = await Database.open(bot.db_path)
        try:
            book = ReservationBook(db)
            charger = bot.config.chargers[0]
            r = await book.open(
                charger.id,
                1,
                token=new_token(),
                id_tag=new_id_tag(),
                payer_pubkey=None,
                payer_relays=(),
                quote=make_quote(charger.tariff, time.time()),
                payment_hash="ab" * 32,
                fee_msat=FEE,
                minutes=1.0,
            )
            await book.apply(r.id, State.QUOTED, Event.INVOICE_PAID, paid_msat=FEE)
            now = time.time()
            await book.apply(
                r.id, State.PAID, Event.RESERVE_REQUESTED, reserved_at=now, expires_at=now + 60
            )
        finally:
            await db.close()
        await bot.start()
        await wait_for(lambda: bot.reservation_state() == "reserved", 20, "held after restart")
        assert [c["reservation_id"] for c in sim.commands("ReserveNow")] == [r.id]
        assert sim.connectors[1].reservation is not None
        assert sim.connectors[1].reservation[0] == r.id
