"""The session inbox and workers over real parts: the central system on a real websocket, simulated
chargers, real SQLite. Each test walks one path of the session table; those with a charger
run for both protocols (the ``ocpp`` fixture: 1.6 and 2.0.1)."""

from __future__ import annotations

import time
from pathlib import Path

from bot.sessions.machine import Event, State
from bot.sessions.tariff import Quote
from tests.sessions.support import Rig, rig, wait_until

PAYER = "a" * 64
STRANGER = "b" * 64


async def test_budget_reached_stops_before_overshoot_and_settles(tmp_path: Path, ocpp: str) -> None:
    async with rig(tmp_path, ocpp=ocpp) as r:
        sim = await r.charger()
        session = await r.paid_session(200_000, payer=PAYER)  # 200 sat at 250 sat/kWh: 800 Wh
        done = await r.reaches(session.id, State.REFUNDING, State.CLOSED, within=20)
        assert len(sim.commands(r.wire.remote_start)) == 1
        assert r.wire.id_tag(sim.commands(r.wire.remote_start)[0]) == session.id_tag
        interval = r.wire.interval_setting(sim.commands(r.wire.sample_interval)[0])
        assert interval == {"1.6": "MeterValueSampleInterval", "2.0.1": "TxUpdatedInterval"}[ocpp]
        assert len(sim.commands(r.wire.remote_stop)) == 1
        assert done.stop_reason == Event.BUDGET_REACHED.value
        assert 0 < done.energy_wh <= 800  # stopped early rather than overshooting
        assert done.paid_msat == done.consumed_msat + done.fees_msat + (done.refund_msat or 0)
        assert done.refund_msat and done.refund_msat > 0
        dms = r.driver.texts(PAYER)
        assert dms[0].startswith("Charging started") and "stop" in dms[0]
        assert any(t.startswith("Charging stopped. Receipt") for t in dms)
        history = [event for _, _, event in await r.service.store.history(session.id)]
        assert history[:4] == [
            Event.INVOICE_PAID,
            Event.START_REQUESTED,
            Event.TRANSACTION_STARTED,
            Event.BUDGET_REACHED,
        ]


async def test_driver_stop_and_a_stranger_is_refused(tmp_path: Path, ocpp: str) -> None:
    async with rig(tmp_path, ocpp=ocpp) as r:
        sim = await r.charger(clock_speed=10.0)
        session = await r.paid_session(2_000_000, payer=PAYER)
        await r.reaches(session.id, State.CHARGING)
        refused = await r.inbox.driver_command("cp-001", STRANGER, "stop")
        assert "Only the driver who paid" in refused
        assert await r.state_of(session.id) is State.CHARGING
        status = await r.inbox.driver_command("cp-001", PAYER, "status")
        assert status.startswith("Session charging")
        assert "Stopping" in await r.inbox.driver_command("cp-001", PAYER, "stop")
        again = await r.inbox.driver_command("cp-001", PAYER, "Stop")
        assert "already" in again or "Stopping" in again
        done = await r.reaches(session.id, State.REFUNDING, State.CLOSED)
        assert done.stop_reason == Event.DRIVER_STOP.value
        assert len(sim.commands(r.wire.remote_stop)) == 1
        assert "already" in await r.inbox.driver_command("cp-001", PAYER, "stop")


async def test_page_stop_twice_is_harmless(tmp_path: Path, ocpp: str) -> None:
    async with rig(tmp_path, ocpp=ocpp) as r:
        sim = await r.charger(clock_speed=10.0)
        session = await r.paid_session(2_000_000)
        await r.reaches(session.id, State.CHARGING)
        assert await r.inbox.stop_by_token(session.token) is not None
        await r.inbox.stop_by_token(session.token)
        await r.reaches(session.id, State.REFUNDING, State.CLOSED)
        assert len(sim.commands(r.wire.remote_stop)) == 1
        assert await r.inbox.stop_by_token("no-such-token") is None


async def test_unplugged_car_settles(tmp_path: Path, ocpp: str) -> None:
    async with rig(tmp_path, ocpp=ocpp) as r:
        sim = await r.charger(clock_speed=10.0)
        session = await r.paid_session(2_000_000, payer=PAYER)
        await r.reaches(session.id, State.CHARGING)
        sim.unplug(1)
        done = await r.reaches(session.id, State.REFUNDING, State.CLOSED)
        assert done.stop_reason == "unplugged"
        assert sim.commands(r.wire.remote_stop) == []


async def test_rejected_start_refunds_everything(tmp_path: Path, ocpp: str) -> None:
    async with rig(tmp_path, ocpp=ocpp) as r:
        sim = await r.charger()
        sim.fault(1)  # a faulted connector rejects RemoteStart
        session = await r.paid_session(500_000, payer=PAYER)
        done = await r.reaches(session.id, State.REFUNDING)
        assert done.refund_msat == 500_000 and done.consumed_msat == 0
        assert done.stop_reason == Event.START_REJECTED.value
        assert any("could not start" in t for t in r.driver.texts(PAYER))


async def test_offline_charger_fails_to_start(tmp_path: Path) -> None:
    async with rig(tmp_path) as r:
        session = await r.paid_session(500_000)
        done = await r.reaches(session.id, State.REFUNDING)
        assert done.refund_msat == 500_000
        history = [event for _, _, event in await r.service.store.history(session.id)]
        assert Event.CHARGER_OFFLINE in history


async def test_fault_mid_session_stops(tmp_path: Path, ocpp: str) -> None:
    async with rig(tmp_path, ocpp=ocpp) as r:
        sim = await r.charger(clock_speed=10.0)
        session = await r.paid_session(2_000_000)
        await r.reaches(session.id, State.CHARGING)
        sim.fault(1)
        done = await r.reaches(session.id, State.REFUNDING, State.CLOSED)
        assert done.stop_reason is not None
        assert done.stop_reason.startswith(("charger_fault", "charger:"))


async def test_topup_extends_the_budget(tmp_path: Path, ocpp: str) -> None:
    async with rig(tmp_path, ocpp=ocpp) as r:
        sim = await r.charger(clock_speed=10.0)
        session = await r.paid_session(400_000, payer=PAYER)
        await r.reaches(session.id, State.CHARGING)
        topup_hash = "c" * 64
        await r.db.execute(
            "INSERT INTO invoices (payment_hash, label, session_id, bolt11, amount_msat,"
            " description, status, expires_at, created_at)"
            " VALUES (?, 'zapcharge:pay:t', ?, 'lnbc', 300000, '', 'paid', 0, 0)",
            (topup_hash, session.id),
        )
        await r.inbox.session_paid(topup_hash, 300_000, 0)
        await r.inbox.session_paid(topup_hash, 300_000, 0)  # replayed: counted once
        topped = await r.service.store.load(session.id)
        assert topped.paid_msat == 700_000
        await wait_until(lambda: any("Top-up" in t for t in r.driver.texts(PAYER)))
        await r.inbox.driver_command("cp-001", PAYER, "stop")
        done = await r.reaches(session.id, State.REFUNDING, State.CLOSED)
        assert done.paid_msat == done.consumed_msat + done.fees_msat + (done.refund_msat or 0)
        assert len(sim.commands(r.wire.remote_start)) == 1


async def test_start_timeout_without_start_transaction(tmp_path: Path, ocpp: str) -> None:
    async with rig(tmp_path, ocpp=ocpp, start_timeout_s=1) as r:
        sim = await r.charger()
        sim.disconnect(offline_s=30)  # accepted nothing: it is gone before the start
        await wait_until(lambda: not r.central.is_online("cp-001"))
        session = await r.paid_session(500_000)
        done = await r.reaches(session.id, State.REFUNDING)
        assert done.refund_msat == 500_000


async def test_disconnect_mid_session_then_stop_after_reconnect(tmp_path: Path, ocpp: str) -> None:
    async with rig(tmp_path, ocpp=ocpp, disconnect_timeout_s=1, stop_timeout_s=30) as r:
        sim = await r.charger(clock_speed=10.0)
        session = await r.paid_session(2_000_000, payer=PAYER)
        await r.reaches(session.id, State.CHARGING)
        sim.disconnect(offline_s=2.5)  # real seconds: longer than the disconnect timeout
        stopping = await r.reaches(session.id, State.STOPPING, within=10)
        assert stopping.stop_reason == Event.DISCONNECT_TIMEOUT.value
        # Back online: RemoteStop goes out, StopTransaction arrives, the session settles.
        done = await r.reaches(session.id, State.REFUNDING, State.CLOSED, within=20)
        assert done.meter_stop_wh is not None
        assert len(sim.commands(r.wire.remote_start)) == 1


async def test_quotes_never_paid_stay_quoted_without_a_node(tmp_path: Path) -> None:
    async with rig(tmp_path) as r:
        session = await r.quoted()
        await r.service.expire_quotes()
        assert await r.state_of(session.id) is State.QUOTED


async def _topup_invoice(r: Rig, session_id: str, payment_hash: str, amount_msat: int) -> None:
    """The invoice row the pay side writes for a follow-up payment to a running session."""
    await r.db.execute(
        "INSERT INTO invoices (payment_hash, label, session_id, bolt11, amount_msat,"
        " description, status, expires_at, created_at)"
        " VALUES (?, ?, ?, 'lnbc', ?, '', 'paid', 0, 0)",
        (payment_hash, f"zapcharge:pay:{payment_hash[:8]}", session_id, amount_msat),
    )


async def test_a_topup_after_the_end_is_refunded_whole_and_once(tmp_path: Path, ocpp: str) -> None:
    async with rig(tmp_path, ocpp=ocpp) as r:
        sim = await r.charger(clock_speed=10.0)
        session = await r.paid_session(2_000_000, payer=PAYER)
        await r.reaches(session.id, State.CHARGING)
        await r.inbox.driver_command("cp-001", PAYER, "stop")
        ended = await r.reaches(session.id, State.REFUNDING, State.CLOSED)
        late_hash = "e" * 64
        await _topup_invoice(r, session.id, late_hash, 300_000)
        await r.inbox.session_paid(late_hash, 300_000, 0)
        await r.inbox.session_paid(late_hash, 300_000, 0)  # replayed: refunded once
        refund = await r.service.store.by_payment_hash(late_hash)
        assert refund is not None and refund.id != session.id
        refund = await r.reaches(refund.id, State.REFUNDING)
        assert refund.refund_msat == refund.paid_msat == 300_000
        assert refund.consumed_msat == refund.fees_msat == 0
        assert refund.payer_pubkey == PAYER
        assert await r.service.store.load(session.id) == ended  # the settlement stands
        rows = await r.db.fetchall("SELECT id FROM sessions WHERE payment_hash = ?", (late_hash,))
        assert len(rows) == 1
        texts = r.driver.texts(PAYER)
        assert sum("arrived after your charge had ended" in t for t in texts) == 1
        assert len(sim.commands(r.wire.remote_start)) == 1  # nothing started for it


async def test_a_topup_for_a_failed_start_is_refunded_too(tmp_path: Path) -> None:
    async with rig(tmp_path) as r:
        session = await r.paid_session(500_000, payer=PAYER)  # no charger: fails to start
        await r.reaches(session.id, State.REFUNDING)
        late_hash = "f" * 64
        await _topup_invoice(r, session.id, late_hash, 100_000)
        await r.inbox.session_paid(late_hash, 100_000, 0)
        refund = await r.service.store.by_payment_hash(late_hash)
        assert refund is not None
        refund = await r.reaches(refund.id, State.REFUNDING)
        assert refund.refund_msat == 100_000
        assert (await r.service.store.load(session.id)).refund_msat == 500_000


async def test_a_second_zap_on_a_busy_connector_is_refunded_whole(
    tmp_path: Path, ocpp: str
) -> None:
    """What bot/receipts does with a zap for a connector that cannot start: a session of
    its own, paid; the charger rejects its RemoteStart and the whole amount goes back."""
    async with rig(tmp_path, ocpp=ocpp) as r:
        sim = await r.charger(clock_speed=10.0)
        first = await r.paid_session(2_000_000, payer=PAYER)
        await r.reaches(first.id, State.CHARGING)
        second = await r.paid_session(700_000, payer=STRANGER)
        done = await r.reaches(second.id, State.REFUNDING)
        assert done.refund_msat == done.paid_msat == 700_000
        assert done.consumed_msat == done.fees_msat == 0 and done.transaction_id is None
        assert done.stop_reason == Event.START_REJECTED.value
        assert any("could not start" in t for t in r.driver.texts(STRANGER))
        assert await r.state_of(first.id) is State.CHARGING  # the first charge goes on
        assert len(sim.commands(r.wire.remote_start)) == 2


async def test_a_full_car_pays_idle_minutes_and_is_stopped_before_the_money_runs_out(
    tmp_path: Path, ocpp: str
) -> None:
    # One real second is one minute on the service's clock and the charger's, so minutes of
    # idle time pass in seconds; the other timeouts are set far beyond the test.
    speed, t0 = 60.0, time.time()

    def clock() -> float:
        return t0 + (time.time() - t0) * speed

    long = {"start_timeout_s": 3600, "stop_timeout_s": 3600, "disconnect_timeout_s": 3600}
    async with rig(tmp_path, ocpp=ocpp, clock=clock, **long) as r:
        sim = await r.charger(clock_speed=speed, battery_wh=10_000, soc_percent=99.5)
        quote = Quote(
            created_at=int(t0),
            price_msat_per_kwh=250_000,
            idle_fee_msat_per_minute=50_000,
            idle_grace_minutes=1,
        )
        session = await r.service.store.create(
            "cp-001", 1, quote, payer_pubkey=PAYER, payment_hash="9" * 64
        )
        await r.inbox.session_paid("9" * 64, 200_000, int(t0))
        done = await r.reaches(session.id, State.REFUNDING, State.CLOSED, within=30)
        assert done.stop_reason == Event.BUDGET_REACHED.value
        assert len(sim.commands(r.wire.remote_stop)) == 1
        assert 0 < done.energy_wh <= 200  # the last 0.5 %, in whole sample intervals
        assert done.idle_minutes >= 2
        assert done.waived_msat == 0  # stopped before idle fees passed what was paid
        assert done.paid_msat == done.consumed_msat + done.fees_msat + (done.refund_msat or 0)
        idle_fee = (done.idle_minutes - 1) * 50_000
        assert done.consumed_msat == done.energy_wh * 250 + idle_fee
        receipt = next(t for t in r.driver.texts(PAYER) if t.startswith("Charging stopped"))
        assert f"Idle: {done.idle_minutes} min, {done.idle_minutes - 1} billed" in receipt


async def test_readings_a_2_0_1_station_queued_offline_are_billed_after_the_reconnect(
    tmp_path: Path,
) -> None:
    async with rig(tmp_path, ocpp="2.0.1", disconnect_timeout_s=60, stop_timeout_s=30) as r:
        sim = await r.charger(clock_speed=60.0, sample_interval_s=60)
        session = await r.paid_session(2_000_000, payer=PAYER)
        await r.reaches(session.id, State.CHARGING)
        await wait_until(lambda: sim.connectors[1].status == "Charging")
        sim.disconnect(offline_s=2.0)  # two simulated minutes of charging while away
        await wait_until(lambda: not sim.connected)
        away = await r.service.store.load(session.id)
        await wait_until(lambda: sim.connected, 10)

        async def billed_more() -> bool:
            return (await r.service.store.load(session.id)).energy_wh >= away.energy_wh + 300

        await wait_until(billed_more, 10, "the offline readings billed")  # 11 kW x 2 min
        assert await r.state_of(session.id) is State.CHARGING  # back in time: no stop
        await r.inbox.driver_command("cp-001", PAYER, "stop")
        done = await r.reaches(session.id, State.REFUNDING, State.CLOSED)
        assert done.paid_msat == done.consumed_msat + done.fees_msat + (done.refund_msat or 0)
        offline = await r.db.fetchall("SELECT seq_no FROM ocpp201_events WHERE offline = 1")
        assert len(offline) >= 2


async def test_the_connector_shows_the_same_status_words_for_both_protocols(
    tmp_path: Path, ocpp: str
) -> None:
    """What the 33600 status event and ``zapcharge watch`` show comes from these words."""
    async with rig(tmp_path, ocpp=ocpp) as r:
        sim = await r.charger(clock_speed=10.0)

        async def shows(word: str) -> None:
            async def now_showing() -> bool:
                state = (await r.central.chargers.statuses("cp-001")).get(1)
                return state is not None and state.status == word

            await wait_until(now_showing, 10, f"connector 1 {word}")

        await shows("Available")
        session = await r.paid_session(2_000_000, payer=PAYER)
        await r.reaches(session.id, State.CHARGING)
        await shows("Charging")
        await r.inbox.driver_command("cp-001", PAYER, "stop")
        await r.reaches(session.id, State.REFUNDING, State.CLOSED)
        await shows("Finishing")  # stopped, the car still plugged in
        sim.unplug(1)
        await shows("Available")
        sim.fault(1)
        await shows("Faulted")
        state = (await r.central.chargers.statuses("cp-001"))[1]
        assert state.error_code == "GroundFailure"  # 1.6 errorCode, 2.0.1 NotifyEvent techCode
