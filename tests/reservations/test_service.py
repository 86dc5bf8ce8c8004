"""The reservation service against real parts it can meet without a charger: an unpaid
fee invoice ends ``unpaid`` only once the (simulated) node says it expired."""

from __future__ import annotations

import time
from pathlib import Path

from bot.app import register_chargers
from bot.config import load_config
from bot.lightning import build_backend
from bot.lightning.simnode import serve_in_process
from bot.ocpp import CentralSystem
from bot.reservations.machine import State
from bot.reservations.service import ReservationService, new_id_tag, new_token
from bot.sessions.inbox import SessionInbox
from bot.sessions.tariff import make_quote
from bot.store import Database
from tests.helpers import write_config


async def test_an_unpaid_fee_invoice_ends_unpaid_once_the_node_says_so(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path), env={})
    config.service.database_path.parent.mkdir(parents=True, exist_ok=True)
    now = [time.time()]
    async with serve_in_process(config.lightning.lightning_dir, clock=lambda: now[0]):
        db = await Database.open(config.service.database_path)
        try:
            await register_chargers(config, db)
            backend = build_backend(config.lightning)
            central = CentralSystem(config, db, SessionInbox(config, db))
            service = ReservationService(config, db, central, backend=backend, clock=lambda: now[0])
            invoice = await backend.create_invoice(200_000, "fee-1", "reserve", expiry_s=600)
            charger = config.chargers[0]
            r = await service.store.open(
                charger.id,
                1,
                token=new_token(),
                id_tag=new_id_tag(),
                payer_pubkey=None,
                payer_relays=(),
                quote=make_quote(charger.tariff, now[0]),
                payment_hash=invoice.payment_hash,
                fee_msat=200_000,
                minutes=15.0,
            )
            now[0] += 300.0  # not expired yet: nobody asks
            await service.expire_quotes()
            assert (await service.store.load(r.id)).state is State.QUOTED
            now[0] += 400.0  # past the invoice's expiry, by the node's clock too
            await service.expire_quotes()
            assert (await service.store.load(r.id)).state is State.UNPAID
            assert await service.charger_of(invoice.payment_hash) == charger.id
            await service.reservation_paid(invoice.payment_hash, 200_000, int(now[0]))
            assert (await service.store.load(r.id)).state is State.UNPAID  # too late: no change
        finally:
            await db.close()
