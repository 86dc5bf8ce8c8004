"""The LNURL side of a running bot, built from the config: what ``app.py`` wires in.

``LnurlStack.build(config, db, backend, outbox=..., sessions=...)`` gives the pay and
withdraw route providers (for the one :class:`~bot.lnurl.server.HttpServer`), the
paid-invoice handler inside a :class:`~bot.lnurl.watcher.PaymentWatcher` (a Service),
and :class:`~bot.lnurl.refunds.Refunds` for the session layer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from bot.config import Config
from bot.lnurl.checkout import Checkout, PaySite
from bot.lnurl.pay import PayEndpoints
from bot.lnurl.payments import ReceiptOutbox, ZapPayments
from bot.lnurl.refunds import Refunds
from bot.lnurl.server import RouteProvider
from bot.lnurl.watcher import PaymentWatcher
from bot.lnurl.withdraw_http import WithdrawEndpoints
from bot.ports import RefundEvents, ReservationHolds, ReservationPayments, SessionPayments
from bot.ports.bolt11 import NETWORK_CURRENCY
from bot.ports.lightning import LightningBackend
from bot.pricing.point import PriceAt
from bot.sessions.quotes import Quoter, static_quote
from bot.store.db import Database

__all__ = ["LnurlStack"]


@dataclass(frozen=True)
class LnurlStack:
    checkout: Checkout
    refunds: Refunds
    payments: ZapPayments
    watcher: PaymentWatcher

    @property
    def providers(self) -> list[RouteProvider]:
        return [PayEndpoints(self.checkout), WithdrawEndpoints(self.refunds)]

    @classmethod
    def build(
        cls,
        config: Config,
        db: Database,
        backend: LightningBackend,
        *,
        outbox: ReceiptOutbox,
        sessions: SessionPayments,
        refund_events: RefundEvents | None = None,
        quote: Quoter = static_quote,
        prices: PriceAt | None = None,
        clock: Callable[[], float] = time.time,
        holds: ReservationHolds | None = None,
        reservation_payments: ReservationPayments | None = None,
    ) -> LnurlStack:
        site = PaySite.from_config(config)
        checkout = Checkout(site, db, backend, quote=quote, prices=prices, clock=clock, holds=holds)
        refunds = Refunds(
            db,
            backend,
            urls=site.urls,
            currency=NETWORK_CURRENCY[config.lightning.network],
            settings=config.sessions,
            events=refund_events,
            allow_loopback=site.allow_loopback,
            clock=clock,
        )
        payments = ZapPayments(
            site.chargers,
            db,
            outbox,
            sessions,
            allow_loopback=site.allow_loopback,
            clock=clock,
            reservations=reservation_payments,
        )
        watcher = PaymentWatcher(backend, db, payments, clock=clock)
        return cls(checkout, refunds, payments, watcher)
