"""Refunds out of a settled session: an LNURL-withdraw link, or a payment to a lightning address.

The session layer calls three things, once the session is in ``refunding`` with its
``refund_msat`` fixed:

- :meth:`Refunds.withdraw_link`: a LUD-03 link for the driver to redeem (DM it, show it as a
  QR code on the session page). Asking again returns the same live link.
- :meth:`Refunds.pay_lightning_address`: pay the driver's ``lud16`` now (LUD-16 ->
  LUD-06): fetch, check min/max, ask for an invoice of exactly the amount, check its amount
  and description hash, pay it.
- :meth:`Refunds.check_pending`: after a restart, or later for a payment still in flight,
  ask the node what became of a pending refund.

Every path claims the refund row first (``RefundStore``: one row per session, UNIQUE), pays
only under that claim, marks it paid when the node says paid, releases it only when the
payment definitely failed (or nothing was sent), and leaves it pending when the outcome is
unknown. So nothing is paid twice, whichever of these runs, however often, in any order.
The withdraw callback itself (:meth:`Refunds.redeem`) is served by ``withdraw_http``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from functools import partial

from bot.config import SessionsConfig
from bot.errors import LightningError, LnurlError, is_retryable
from bot.lnurl.client import LnurlClient, lnurl_client
from bot.lnurl.codec import encode_lnurl, lightning_address_url, lightning_uri
from bot.lnurl.payer import check_pay_invoice
from bot.lnurl.protocol import Urls
from bot.lnurl.withdraw import WithdrawOffer, check_withdraw_invoice, parse_withdraw_callback
from bot.ports import RefundEvents
from bot.ports.lightning import LightningBackend, PaymentStatus
from bot.sessions.refunding import refund_rows
from bot.store.db import Database
from bot.store.refunds import Refund, RefundMethod, RefundStatus

__all__ = ["RefundResult", "Refunds", "WithdrawLink"]

log = logging.getLogger(__name__)

ClientFactory = Callable[[], AbstractAsyncContextManager[LnurlClient]]


@dataclass(frozen=True)
class WithdrawLink:
    """A refund's LUD-03 link. The URL holds the k1: a bearer secret, for the payer only."""

    url: str = field(repr=False)
    lnurl: str = field(repr=False)  # LNURL1..., for a QR code
    amount_msat: int
    expires_at: float

    @property
    def uri(self) -> str:
        return lightning_uri(self.lnurl)


@dataclass(frozen=True)
class RefundResult:
    """Where a refund stands: PAID, PENDING (in flight or unknown: wait and check again),
    RELEASED (definitely not paid: try again) or OFFERED (a withdraw link is out)."""

    session_id: str
    status: RefundStatus
    detail: str = ""
    payment_hash: str | None = None


class Refunds:
    def __init__(
        self,
        db: Database,
        backend: LightningBackend,
        *,
        urls: Urls,
        currency: str,  # BOLT11 prefix of our network: "bc", "bcrt", ...
        settings: SessionsConfig,
        events: RefundEvents | None = None,
        allow_loopback: bool = False,
        client: ClientFactory | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.backend, self.urls, self.currency, self.settings = backend, urls, currency, settings
        self.events, self.clock = events, clock
        self.store = refund_rows(db, clock=clock)
        self._client = client or partial(lnurl_client, allow_loopback=allow_loopback)

    async def withdraw_link(self, session_id: str, amount_msat: int) -> WithdrawLink | None:
        """The live withdraw link of the session's refund (a new one if there is none, the
        old one expired, or a failure released the claim); None while the refund is being
        paid another way or is paid. SessionError if the session owes no such amount."""
        refund = await self.store.offer_withdraw(
            session_id, amount_msat, self.settings.withdraw_expiry_s
        )
        if refund is None:
            refund = await self.store.get(session_id)
            if refund is None or not self._live_offer(refund):
                return None
        assert refund.k1 is not None and refund.k1_expires_at is not None
        url = self.urls.withdraw(refund.k1)
        return WithdrawLink(url, encode_lnurl(url), refund.amount_msat, refund.k1_expires_at)

    async def pay_lightning_address(
        self, session_id: str, amount_msat: int, address: str
    ) -> RefundResult:
        """Pay the refund to ``address`` now. RELEASED (with the reason) when it cannot be
        paid there: offer a withdraw link instead."""
        claim = await self.store.claim_refund(session_id, amount_msat, RefundMethod.LUD16)
        if claim is None:
            return await self.status(session_id)
        try:
            async with self._client() as client:
                offer = await client.pay_request(lightning_address_url(address))
                pr = await client.invoice(offer, amount_msat, comment="Zapcharge refund")
            invoice = check_pay_invoice(
                pr,
                amount_msat=amount_msat,
                description=offer.metadata,
                currency=self.currency,
                now=int(self.clock()),
            )
        except LnurlError as exc:
            log.warning("refund of session %s to a lightning address: %s", session_id, exc)
            await self.store.release(session_id, exc.reason)
            return RefundResult(session_id, RefundStatus.RELEASED, exc.reason)
        await self.store.set_invoice(session_id, pr, invoice.payment_hash)
        return await self._pay(session_id, pr, invoice.payment_hash, amount_msat)

    async def check_pending(self, session_id: str) -> RefundResult:
        """Settle what the node knows about a pending refund; other states as they are."""
        refund = await self.store.get(session_id)
        if refund is None or refund.status is not RefundStatus.PENDING:
            return await self.status(session_id)
        if refund.payment_hash is None or refund.bolt11 is None:
            # Claimed, but no invoice was recorded: nothing can have been paid.
            detail = "claimed, but no invoice was fetched"
            await self.store.release(session_id, detail)
            return RefundResult(session_id, RefundStatus.RELEASED, detail)
        try:
            payment = await self.backend.lookup_payment(refund.payment_hash)
        except LightningError as exc:
            if not is_retryable(exc):
                raise
            return RefundResult(session_id, RefundStatus.PENDING, str(exc), refund.payment_hash)
        if payment is None:
            # The node never saw it (a crash before pay): paying the same invoice again is
            # safe, one invoice cannot be paid twice.
            return await self._pay(
                session_id, refund.bolt11, refund.payment_hash, refund.amount_msat
            )
        return await self._settle(session_id, payment.status, payment.failure, refund.payment_hash)

    async def status(self, session_id: str) -> RefundResult:
        refund = await self.store.get(session_id)
        if refund is None:
            return RefundResult(session_id, RefundStatus.RELEASED, "no refund claimed")
        return RefundResult(session_id, refund.status, refund.error or "", refund.payment_hash)

    async def withdraw_request(self, k1: str) -> WithdrawOffer:
        """LUD-03 step 3: what the link offers (exactly the refund, no choice of amount)."""
        refund = await self.store.withdraw_offer(k1)
        if refund is None:
            raise await self._k1_refusal(k1)
        return WithdrawOffer(
            callback=self.urls.withdraw_callback(),
            k1=k1,
            min_withdrawable_msat=refund.amount_msat,
            max_withdrawable_msat=refund.amount_msat,
            default_description=f"Zapcharge refund, session {refund.session_id}",
        )

    async def redeem(self, params: dict[str, str]) -> None:
        """LUD-03 step 5: check the wallet's invoice, claim the k1, pay. LnurlError says why
        not; returning means paid or in flight (the wallet then waits for the money)."""
        callback = parse_withdraw_callback(params)
        refund = await self.store.withdraw_offer(callback.k1)
        if refund is None:
            raise await self._k1_refusal(callback.k1)
        amount = refund.amount_msat
        invoice = check_withdraw_invoice(
            callback.pr,
            min_withdrawable_msat=amount,
            max_withdrawable_msat=amount,
            currency=self.currency,
            now=int(self.clock()),
        )
        claim = await self.store.claim_k1(callback.k1, amount, callback.pr, invoice.payment_hash)
        if claim is None:  # another callback with this k1 won the race
            raise await self._k1_refusal(callback.k1)
        result = await self._pay(claim.session_id, callback.pr, invoice.payment_hash, amount)
        if self.events is not None and result.status is not RefundStatus.PENDING:
            paid = result.status is RefundStatus.PAID
            await self.events.refund_settled(claim.session_id, paid=paid, detail=result.detail)
        if result.status is RefundStatus.RELEASED:
            raise LnurlError(f"the payment failed ({result.detail}); ask for a new refund link")

    async def _pay(
        self, session_id: str, bolt11: str, payment_hash: str, amount_msat: int
    ) -> RefundResult:
        """Pay under a pending claim; the claim's fate follows what the node says."""
        fee = self.settings.refund_max_fee(amount_msat)
        try:
            payment = await self.backend.pay(bolt11, max_fee_msat=fee, amount_msat=amount_msat)
        except LightningError as exc:
            # The backend raises only before anything is sent; still ask before releasing.
            try:
                known = await self.backend.lookup_payment(payment_hash)
            except LightningError as lookup_error:
                if not is_retryable(lookup_error):
                    raise
                return RefundResult(session_id, RefundStatus.PENDING, str(exc), payment_hash)
            if known is not None:
                return await self._settle(session_id, known.status, known.failure, payment_hash)
            await self.store.release(session_id, str(exc))
            return RefundResult(session_id, RefundStatus.RELEASED, str(exc), payment_hash)
        return await self._settle(session_id, payment.status, payment.failure, payment_hash)

    async def _settle(
        self, session_id: str, status: PaymentStatus, failure: str | None, payment_hash: str
    ) -> RefundResult:
        if status is PaymentStatus.PAID:
            await self.store.mark_paid(session_id)
            log.info("refund of session %s paid", session_id)
            return await self.status(session_id)
        if status is PaymentStatus.FAILED:
            detail = failure or "the payment failed"
            await self.store.release(session_id, detail)
            log.warning("refund of session %s failed: %s", session_id, detail)
            return await self.status(session_id)
        return RefundResult(session_id, RefundStatus.PENDING, "payment in flight", payment_hash)

    def _live_offer(self, refund: Refund) -> bool:
        return (
            refund.status is RefundStatus.OFFERED
            and refund.k1 is not None
            and (refund.k1_expires_at or 0) > self.clock()
        )

    async def _k1_refusal(self, k1: str) -> LnurlError:
        """Why a k1 cannot be used; the same answer for unknown and released ones."""
        refund = await self.store.by_k1(k1)
        if refund is None or refund.status is RefundStatus.RELEASED:
            return LnurlError("unknown or used withdraw link")
        if refund.status is RefundStatus.PAID:
            return LnurlError("this refund has been paid already")
        if refund.status is RefundStatus.PENDING:
            return LnurlError("this refund is being paid already")
        return LnurlError("this withdraw link has expired; ask for a new one")
