"""What happens when our node says an invoice of ours is paid: receipt first, then session.

:class:`ZapPayments` is the ``PaidInvoices`` handler of the :class:`~bot.lnurl.watcher.
PaymentWatcher`, the only source of "paid": a zap receipt seen on a relay (ours or
anyone's) is never taken as payment; nothing here even listens to relays.

For a zap it signs the kind 9735 receipt with the charger's key (our ``nostrPubkey`` is
the charger's own public key, so clients show the zap on the charger's profile and can
check the receipt against the key in its LNURL), dated when the node saw the payment, and
puts it in the outbox for the request's relays and our write relays. Then it hands the
payment to the session layer. Both steps are idempotent by payment hash (the receipt's id
is the same every time it is built, and the outbox keeps one row per id; the session layer
counts a payment once), which is what the watcher's redelivery after a crash needs.

Money no session accounts for (a label of ours without an invoice row, an invoice row
without a session) is logged as an error and kept in ``unclaimed_payments`` for the
operator to refund: it is never silently dropped.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from bot.config import ChargerConfig
from bot.errors import ZapInvalid
from bot.lnurl.checkout import INVOICE_LABEL_PREFIX
from bot.lnurl.hosts import usable_relays
from bot.nostr.zaps import build_zap_receipt, load_zap_request
from bot.ports import ReservationPayments, SessionPayments
from bot.ports.lightning import Invoice
from bot.sessions.records import SessionRecords
from bot.store.db import Database
from bot.store.lightning import LightningStore, StoredInvoice
from bot.store.lnurl import LnurlStore

__all__ = ["ReceiptOutbox", "ZapPayments"]

log = logging.getLogger(__name__)


class ReceiptOutbox(Protocol):
    """The part of the nostr outbox this needs (``bot.nostr.outbox.Outbox`` has it)."""

    async def enqueue(self, event_json: str, relays: Sequence[str] = ()) -> int: ...


class ZapPayments:
    def __init__(
        self,
        chargers: Mapping[str, ChargerConfig],
        db: Database,
        outbox: ReceiptOutbox,
        sessions: SessionPayments,
        *,
        allow_loopback: bool = False,
        clock: Callable[[], float] = time.time,
        reservations: ReservationPayments | None = None,
    ) -> None:
        self.chargers, self.outbox, self.sessions = chargers, outbox, sessions
        self.reservations = reservations  # fee invoices belong to a reservation, not a session
        self.allow_loopback, self.clock = allow_loopback, clock
        self.invoices = LightningStore(db)
        self.session_store = SessionRecords(db, clock=clock)
        self.store = LnurlStore(db)

    async def invoice_paid(self, invoice: Invoice) -> None:
        amount = invoice.amount_received_msat or invoice.amount_msat
        paid_at = int(invoice.paid_at if invoice.paid_at is not None else self.clock())
        stored = await self.invoices.invoice(invoice.payment_hash)
        if stored is None:
            if invoice.label.startswith(INVOICE_LABEL_PREFIX):
                await self._unclaimed(invoice, amount, "our label, but no invoice row")
            else:  # the node may be shared: other software's invoices are not ours to handle
                log.info("paid invoice %s is not one of ours; ignored", invoice.label)
            return
        session = await self.session_store.get(stored.session_id) if stored.session_id else None
        if session is None:
            await self._reservation_paid(stored, invoice, amount, paid_at)
            return
        if stored.zap_request is not None:
            await self._send_receipt(stored, session.charger_id, invoice, paid_at)
        await self.sessions.session_paid(invoice.payment_hash, amount, paid_at)

    async def _reservation_paid(
        self, stored: StoredInvoice, invoice: Invoice, amount: int, paid_at: int
    ) -> None:
        charger_id = None
        if self.reservations is not None and stored.session_id is None:
            charger_id = await self.reservations.charger_of(invoice.payment_hash)
        if self.reservations is None or charger_id is None:
            await self._unclaimed(invoice, amount, "no session for this invoice")
            return
        if stored.zap_request is not None:
            await self._send_receipt(stored, charger_id, invoice, paid_at)
        await self.reservations.reservation_paid(invoice.payment_hash, amount, paid_at)

    async def _send_receipt(
        self, stored: StoredInvoice, charger_id: str, invoice: Invoice, paid_at: int
    ) -> None:
        assert stored.zap_request is not None
        charger = self.chargers.get(charger_id)
        if charger is None:
            log.error("zap receipt for %s not sent: charger %s is gone", stored.label, charger_id)
            return
        try:
            request = load_zap_request(
                stored.zap_request, charger_pubkey=charger.keys.public_key_hex
            )
            receipt = build_zap_receipt(
                charger.keys, request, stored.bolt11, invoice.preimage, paid_at
            )
        except ZapInvalid as exc:  # we checked it when it came in: the row itself is wrong
            log.error("zap receipt for %s not built: %s (%s)", stored.label, exc.reason, exc.code)
            return
        relays = usable_relays(request.relays, allow_loopback=self.allow_loopback)
        await self.outbox.enqueue(receipt, relays)
        log.info("zap receipt for %s queued for %d relay(s) and ours", stored.label, len(relays))

    async def _unclaimed(self, invoice: Invoice, amount: int, reason: str) -> None:
        log.error(
            "PAYMENT WITHOUT A SESSION: invoice %s (%s), %d msat: %s; kept for refund",
            invoice.label,
            invoice.payment_hash,
            amount,
            reason,
        )
        await self.store.record_unclaimed(
            invoice.payment_hash,
            label=invoice.label,
            amount_msat=amount,
            paid_at=invoice.paid_at,
            reason=reason,
            now=self.clock(),
        )
