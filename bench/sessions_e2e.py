"""Sessions end to end: paid -> RemoteStart latency, and 200 concurrent sessions.

Real parts in one process: SQLite (WAL), the OCPP central system on 127.0.0.1, simulated
chargers over real websockets, the SessionWorkers with its workers.

1. Latency: from ``session_paid`` (what the paid-invoice handler calls once our node says
   paid) to the RemoteStartTransaction frame arriving at the charger; LATENCY_SAMPLES
   sequential sessions on one charger; p50 and p99.
2. Load: CONCURRENT chargers, one paid session each, all at once; the car is unplugged on
   some, the driver stops some, the rest run into their budget. Nothing may be lost: every
   paid session ends settled (refunding or closed), and paid = consumed + fees + refund
   holds in msat for each and in sum. Bounded by LOAD_LIMIT_S.
"""

from __future__ import annotations

import asyncio
import secrets
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from bot.app import register_chargers
from bot.config import Config, load_config
from bot.identity import NewCharger, create_identity
from bot.ocpp import CentralSystem
from bot.ocpp.simcharger import SimCharger, SimSettings
from bot.sessions.inbox import SessionInbox
from bot.sessions.machine import Event, State
from bot.sessions.tariff import make_quote
from bot.sessions.workers import SessionWorkers
from bot.store import Database

__all__ = ["run"]

LATENCY_SAMPLES = 100
CONCURRENT = 200
LOAD_LIMIT_S = 90.0
_ENDED = (State.REFUNDING, State.CLOSED)


class _Stamped(list[tuple[str, dict[str, Any]]]):
    """The simulated charger's ``received`` list, with the time each command arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.at: list[float] = []

    def append(self, item: tuple[str, dict[str, Any]]) -> None:
        if item[0] == "RemoteStartTransaction":
            self.at.append(time.perf_counter())
        super().append(item)


def _config(root: Path, chargers: int) -> Config:
    root.mkdir(parents=True)
    (root / "relays.toml").write_text(
        '[[relay]]\nurl = "ws://127.0.0.1:9"\n\n[service]\npublic_url = "https://x.example"\n'
        'data_dir = "data"\nidentities_dir = "identities"\n\n[ocpp]\nlisten = "127.0.0.1:0"\n\n'
        '[http]\nlisten = "127.0.0.1:0"\n\n'
        '[lightning]\nbackend = "simnode"\nlightning_dir = "ln"\n',
        encoding="utf-8",
    )
    for n in range(chargers):
        create_identity(
            root / "identities",
            NewCharger(id=f"cp-{n:03d}", name=f"Charger {n}", lat=48.1, lon=11.5),
            passphrase=None,
        )
    config = load_config(root / "relays.toml")
    settings = replace(config.sessions, start_timeout_s=20, stop_timeout_s=20)
    return replace(config, sessions=settings)


async def _with_system(root: Path, chargers: int, body: Any) -> Any:
    config = _config(root, chargers)
    config.service.database_path.parent.mkdir(parents=True, exist_ok=True)
    db = await Database.open(config.service.database_path)
    await register_chargers(config, db)
    inbox = SessionInbox(config, db)
    central = CentralSystem(config, db, inbox)
    service = SessionWorkers(config, db, inbox, control=central, tick_s=0.25, workers=32)
    tasks = [asyncio.create_task(central.run()), asyncio.create_task(service.run())]
    try:
        port = await central.started()
        return await body(config, service, f"ws://127.0.0.1:{port}/ocpp")
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await db.close()


async def _sims(config: Config, url: str, **settings: Any) -> tuple[list[SimCharger], list[Any]]:
    sims = [
        SimCharger(SimSettings(url, c.id, c.ocpp_password, reconnect_delay_s=0.2, **settings))
        for c in config.chargers
    ]
    tasks = [asyncio.create_task(sim.run()) for sim in sims]
    for sim in sims:
        await sim.wait_for(lambda s=sim: s.boots >= 1, 30)  # type: ignore[misc]
    return sims, tasks


async def _paid(service: SessionWorkers, config: Config, charger_id: str, amount: int) -> str:
    charger = config.charger(charger_id)
    assert charger is not None
    session = await service.store.create(
        charger_id,
        1,
        make_quote(charger.tariff, time.time()),
        payer_pubkey=secrets.token_hex(32),
        payment_hash=secrets.token_hex(32),
    )
    assert session.payment_hash is not None
    await service.inbox.session_paid(session.payment_hash, amount, int(time.time()))
    return session.id


async def _latency(config: Config, service: SessionWorkers, url: str) -> list[float]:
    sims, tasks = await _sims(config, url, clock_speed=1.0)
    sim = sims[0]
    stamped = _Stamped()
    sim.received = stamped
    samples: list[float] = []
    try:
        for _ in range(LATENCY_SAMPLES):
            count = len(stamped.at) + 1
            started = time.perf_counter()
            session_id = await _paid(service, config, "cp-000", 1_000_000)
            await sim.wait_for(lambda n=count: len(stamped.at) >= n, 10)  # type: ignore[misc]
            samples.append(stamped.at[-1] - started)
            await _until(service, session_id, (State.CHARGING,), 10)
            sim.unplug(1)
            await _until(service, session_id, _ENDED, 10)
            sim.plug_in(1)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return samples


async def _until(service: SessionWorkers, session_id: str, states: Any, within: float) -> None:
    deadline = time.monotonic() + within
    while (await service.store.load(session_id)).state not in states:
        if time.monotonic() > deadline:
            raise TimeoutError(f"session {session_id} not in {states}")
        await asyncio.sleep(0.01)


async def _load(config: Config, service: SessionWorkers, url: str) -> dict[str, Any]:
    sims, tasks = await _sims(config, url, clock_speed=30.0, sample_interval_s=60)
    started = time.monotonic()
    try:
        amounts = [100_000 + 1_000 * n + n % 7 for n in range(CONCURRENT)]
        pairs = zip(config.chargers, amounts, strict=True)
        ids = await asyncio.gather(*(_paid(service, config, c.id, a) for c, a in pairs))
        for n, session_id in enumerate(ids):
            await _until(service, session_id, (State.CHARGING, *_ENDED), 30)
            if n % 5 == 1:
                sims[n].unplug(1)
            elif n % 5 == 2:
                session = await service.store.load(session_id)
                await service.inbox.stop(session, Event.DRIVER_STOP)
        for session_id in ids:
            await _until(service, session_id, _ENDED, LOAD_LIMIT_S)
        elapsed = time.monotonic() - started
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    sessions = [await service.store.load(i) for i in ids]
    balanced = sum(
        s.paid_msat == s.consumed_msat + s.fees_msat + (s.refund_msat or 0) for s in sessions
    )
    starts = sum(len(sim.commands("RemoteStartTransaction")) for sim in sims)
    return {
        "paid": len(ids),
        "ended": sum(s.state in _ENDED for s in sessions),
        "refund_due": sum(s.state is State.REFUNDING for s in sessions),
        "balanced": balanced,
        "paid_msat": sum(amounts),
        "paid_stored_msat": sum(s.paid_msat for s in sessions),
        "consumed_fees_refund_msat": sum(
            s.consumed_msat + s.fees_msat + (s.refund_msat or 0) for s in sessions
        ),
        "remote_starts": starts,
        "waived": sum(s.waived_msat > 0 for s in sessions),
        "waived_msat": sum(s.waived_msat for s in sessions),
        "seconds": elapsed,
    }


async def run() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        samples = await _with_system(Path(tmp) / "latency", 1, _latency)
    ms = sorted(1000 * s for s in samples)
    p99 = ms[min(len(ms) - 1, round(0.99 * len(ms)) - 1)]
    print(
        f"paid -> RemoteStart on the wire: p50 {statistics.median(ms):.2f} ms, "
        f"p99 {p99:.2f} ms, max {ms[-1]:.2f} ms ({len(ms)} sessions)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        report = await _with_system(Path(tmp) / "load", CONCURRENT, _load)
    lost = report["paid"] - report["ended"]
    print(
        f"{CONCURRENT} concurrent sessions on {CONCURRENT} chargers: {report['ended']} of "
        f"{report['paid']} settled ({report['refund_due']} with a refund due) in "
        f"{report['seconds']:.1f} s; {report['remote_starts']} RemoteStarts; "
        f"balanced {report['balanced']}/{report['paid']}"
    )
    print(
        f"msat: paid {report['paid_msat']} = stored {report['paid_stored_msat']} = "
        f"consumed+fees+refund {report['consumed_fees_refund_msat']}; lost {lost}; "
        f"overshoot waived on {report['waived']} ({report['waived_msat']} msat)"
    )
    exact = report["paid_msat"] == report["paid_stored_msat"] == report["consumed_fees_refund_msat"]
    if lost or not exact or report["balanced"] != report["paid"]:
        raise SystemExit("sessions_e2e: something was lost")
