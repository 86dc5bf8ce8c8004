"""The payment stream as a Service: every paid invoice, handed over once, across restarts.

Exactly once, and why:

1. The cursor (last handled ``pay_index``) is read from the store at start; the backend
   streams every invoice paid *after* it, in pay_index order (``waitanyinvoice`` keeps
   the node's paid invoices, so nothing paid while the bot was down is missed).
2. For each invoice the watcher first records the node's view in ``invoices``, then awaits
   ``handler.invoice_paid(invoice)``, and only after it returns stores the cursor.
3. So an invoice is handed over again only if the bot stopped after the handler began and
   before the cursor was stored. The handler is therefore idempotent by ``payment_hash``
   (a UNIQUE row, or a state check, inside the handler's own transaction): that
   redelivery then does nothing, and each payment takes effect exactly once.
4. A restart *between* payment and notification (the usual case) delivers once and only
   once: the cursor still points before the payment.

A handler that raises stops the watcher (and with it the bot, via the TaskGroup) without
moving the cursor, so the payment is delivered again after the restart: money is never
silently dropped.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from bot.ports import PaidInvoices
from bot.ports.lightning import Invoice, LightningBackend
from bot.store.db import Database
from bot.store.lightning import LightningStore

__all__ = ["PaymentWatcher"]

log = logging.getLogger(__name__)


class PaymentWatcher:
    name = "lightning-payments"

    def __init__(
        self,
        backend: LightningBackend,
        db: Database,
        handler: PaidInvoices,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.backend, self.handler, self.clock = backend, handler, clock
        self.store = LightningStore(db)

    async def run(self) -> None:
        cursor = await self.store.pay_index()
        log.info("watching paid invoices after pay_index %d", cursor)
        stream = self.backend.paid_invoices(cursor)
        try:
            async for invoice in stream:
                if invoice.pay_index is None or invoice.pay_index <= cursor:
                    continue
                await self._deliver(invoice, invoice.pay_index)
                cursor = invoice.pay_index
        finally:
            aclose = getattr(stream, "aclose", None)  # an async generator: end it now
            if aclose is not None:
                await aclose()

    async def _deliver(self, invoice: Invoice, pay_index: int) -> None:
        await self.store.record_status(invoice, now=self.clock())
        log.info(
            "invoice %s paid: %d msat (pay_index %d)",
            invoice.label,
            invoice.amount_received_msat or invoice.amount_msat,
            pay_index,
        )
        await self.handler.invoice_paid(invoice)
        await self.store.advance_pay_index(pay_index)
