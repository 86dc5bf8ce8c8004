"""The Service that turns zap receipts from an operator's own zapper into paid sessions.

One subscription on the read relays: kind 9735 with ``#p`` = the chargers that have a
``[zapper]``, ``since`` a margin before the last receipt that counted (so receipts that
arrived while the bot was down are picked up). Each receipt, in this order:

1. appendix F (``validate_zap_receipt``): a trusted zapper signed it, its bolt11 amount is
   the request's, the description hash is sha256 of the request, ``p`` is the charger,
   the embedded request is validly signed; the invoice is on our network;
2. our own node's invoice for that payment hash is the receipt's bolt11, paid, for that
   amount, and recently (``confirm_payment``): a receipt alone never starts a session;
3. the payment hash is claimed (a PRIMARY KEY row) before anything is created, so two
   relays, a replay or a restart cannot start a second session;
4. the session is created, priced at the paid time, and handed to ``session_paid``.

A refusal is logged with its reason and recorded in ``zap_receipt_rejects``. Claimed rows
that did not reach step 4's end (a crash) are finished at the next start.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from bot.config import ChargerConfig, Config
from bot.errors import LightningError, ZapInvalid, is_retryable
from bot.log import charger_log
from bot.nostr.zaps import ZapReceipt, validate_zap_receipt
from bot.ports import SessionPayments, ZapReceiptFeed
from bot.ports.lightning import Invoice, LightningBackend
from bot.receipts.checks import (
    choose_connector,
    confirm_payment,
    currency_of,
    recipient_of,
    requested_connector,
    since_for,
)
from bot.receipts.pinning import PubkeyLookup, fetch_nostr_pubkey, trusted_zappers
from bot.sessions.machine import State
from bot.sessions.quotes import Quoter, static_quote
from bot.sessions.records import SessionRecords
from bot.store.chargers import ChargerStore
from bot.store.db import Database
from bot.store.receipts import Claim, ReceiptStore

__all__ = ["ReceiptListener"]

log = logging.getLogger(__name__)

SESSION = "session"  # handle()'s answer when a session was created
DUPLICATE = "duplicate"  # the same receipt again (a second relay, a restart)


class ReceiptListener:
    name = "zap-receipts"

    def __init__(
        self,
        chargers: Sequence[ChargerConfig],
        feed: ZapReceiptFeed,
        db: Database,
        backend: LightningBackend,
        payments: SessionPayments,
        *,
        network: str,
        lookup: PubkeyLookup = fetch_nostr_pubkey,
        quote: Quoter = static_quote,
        clock: Callable[[], float] = time.time,
        margin_s: int = 3600,
        max_age_s: int = 86400,
        concurrency: int = 16,
        node_retry_s: Sequence[float] = (0.5, 1.0, 2.0, 4.0),
    ) -> None:
        self._chargers = {c.keys.public_key_hex: c for c in chargers if c.zapper is not None}
        self._feed, self._backend, self._payments = feed, backend, payments
        self._currency = currency_of(network)
        self._lookup, self._quote, self._clock = lookup, quote, clock
        self._margin_s, self._max_age_s = margin_s, max_age_s
        self._node_retry_s = tuple(node_retry_s)
        self._slots = asyncio.Semaphore(concurrency)
        self.store = ReceiptStore(db)
        self._sessions = SessionRecords(db, clock=clock)
        self._status = ChargerStore(db)
        self._trusted: dict[str, frozenset[str]] = {}
        self.ready = asyncio.Event()  # set once the subscription reached EOSE

    @classmethod
    def from_config(
        cls,
        config: Config,
        db: Database,
        feed: ZapReceiptFeed,
        backend: LightningBackend,
        payments: SessionPayments,
        **options: Any,
    ) -> ReceiptListener | None:
        """The listener for the chargers with a ``[zapper]``; None when no charger has one."""
        if not any(c.zapper for c in config.chargers):
            return None
        network = config.lightning.network
        return cls(config.chargers, feed, db, backend, payments, network=network, **options)

    async def start(self) -> None:
        """Pin the zapper keys (ConfigError refuses to start) and finish claimed receipts."""
        chargers = list(self._chargers.values())
        self._trusted = await trusted_zappers(chargers, self.store, self._lookup, now=self._clock())
        for claim in await self.store.unfinished():
            await self._finish_logged(claim)

    async def run(self) -> None:
        await self.start()
        since = since_for(await self.store.cursor(), self._clock(), self._margin_s)
        async with self._feed.zap_receipts(list(self._chargers), since) as receipts:
            self.ready.set()
            count = len(self._chargers)
            log.info("listening for zap receipts of %d charger(s) since %d", count, since)
            async with asyncio.TaskGroup() as group:
                async for raw_json in receipts:
                    await self._slots.acquire()
                    group.create_task(self._handle_in_slot(raw_json))

    async def _handle_in_slot(self, raw_json: str) -> None:
        try:
            await self.handle(raw_json)
        except Exception:  # a broken receipt or a failing store must not end the service
            log.exception("zap receipt %s could not be handled", _event_id(raw_json)[:12])
        finally:
            self._slots.release()

    async def handle(self, raw_json: str) -> str:
        """Handle one receipt; the outcome: ``session``, ``duplicate`` or the refusal's code."""
        event_id = _event_id(raw_json)
        charger_id: str | None = None
        payment_hash: str | None = None
        try:
            charger = self._charger_of(raw_json)
            charger_id = charger.id
            receipt = self._validated(charger, raw_json)
            payment_hash = receipt.payment_hash
            claim = await self._confirmed(charger, receipt)
        except ZapInvalid as exc:
            return await self._refuse(event_id, charger_id, payment_hash, exc)
        except LightningError as exc:
            if not is_retryable(exc):
                raise
            # Not the receipt's fault: no claim is made, so a later delivery or the next
            # start (the cursor has not passed it) tries again.
            log.error("zap receipt %s not confirmed: %s", event_id[:12], exc)
            return "node-unavailable"
        # Two relays' copies confirmed at the same moment: only one claim succeeds.
        if claim is None or not await self.store.claim(claim, self._clock()):
            return DUPLICATE
        await self._finish(claim)
        return SESSION

    def _charger_of(self, raw_json: str) -> ChargerConfig:
        pubkey = recipient_of(raw_json, self._chargers)
        if pubkey is None:
            raise ZapInvalid("wrong-recipient", "zap receipt's p tag is none of our chargers")
        return self._chargers[pubkey]

    def _validated(self, charger: ChargerConfig, raw_json: str) -> ZapReceipt:
        """Appendix F, against this charger's trusted zappers and our network."""
        return validate_zap_receipt(
            raw_json,
            trusted_zapper_pubkeys=self._trusted.get(charger.id, frozenset()),
            expected_recipient=charger.keys.public_key_hex,
            currency=self._currency,
        )

    async def _confirmed(self, charger: ChargerConfig, receipt: ZapReceipt) -> Claim | None:
        """The claim to make, None for a copy of a receipt already claimed; or ZapInvalid."""
        earlier = await self.store.get(receipt.payment_hash)
        if earlier is not None:
            if earlier.receipt_id == receipt.id:
                log.debug("zap receipt %s seen again", receipt.id[:12])
                return None
            raise ZapInvalid("replayed", "this payment was already claimed by another receipt")
        invoice = await self._invoice(receipt.payment_hash)
        paid_at = confirm_payment(receipt, invoice, now=self._clock(), max_age_s=self._max_age_s)
        if await self._sessions.by_payment_hash(receipt.payment_hash) is not None:
            raise ZapInvalid("session-exists", "this invoice already belongs to a session")
        connector = await self._connector(charger, receipt.request.comment)
        return Claim(
            payment_hash=receipt.payment_hash,
            receipt_id=receipt.id,
            charger_id=charger.id,
            connector_id=connector,
            zapper_pubkey=receipt.zapper_pubkey,
            payer_pubkey=receipt.request.sender_pubkey,
            payer_relays=receipt.request.relays,
            amount_msat=receipt.amount_msat,
            paid_at=paid_at,
            receipt_created_at=receipt.created_at,
        )

    async def _invoice(self, payment_hash: str) -> Invoice | None:
        for delay in self._node_retry_s:
            try:
                return await self._backend.lookup_invoice(payment_hash)
            except LightningError as exc:
                if not is_retryable(exc):
                    raise
                await asyncio.sleep(delay)
        return await self._backend.lookup_invoice(payment_hash)

    async def _connector(self, charger: ChargerConfig, comment: str) -> int:
        ids = [c.id for c in charger.connectors]
        statuses = {k: v.status for k, v in (await self._status.statuses(charger.id)).items()}
        held = set()
        for connector in ids:
            sessions = await self._sessions.active_on(charger.id, connector)
            if any(s.state is not State.QUOTED for s in sessions):
                held.add(connector)
        chosen, free = choose_connector(ids, requested_connector(comment, ids), statuses, held)
        if not free:
            charger_log(log, charger.id).warning(
                "paid zap for connector %d, which cannot start now: it will be refunded", chosen
            )
        return chosen

    async def _finish_logged(self, claim: Claim) -> None:
        try:
            await self._finish(claim)
        except Exception:
            log.exception(
                "claimed zap payment %s not finished; retried next start", claim.payment_hash
            )

    async def _finish(self, claim: Claim) -> None:
        """Session, then ``session_paid``, then done: each step safe to repeat after a crash."""
        charger = next((c for c in self._chargers.values() if c.id == claim.charger_id), None)
        if charger is None:
            log.error(
                "PAYMENT WITHOUT A SESSION: zap %s, %d msat, for charger %s, which is no longer"
                " configured with a zapper; refund it by hand",
                claim.payment_hash,
                claim.amount_msat,
                claim.charger_id,
            )
            return
        session = await self._sessions.by_payment_hash(claim.payment_hash)
        if session is None:
            session = await self._sessions.create(
                charger.id,
                claim.connector_id,
                await self._quote(charger, claim.paid_at),
                payer_pubkey=claim.payer_pubkey,
                payer_relays=claim.payer_relays,
                payment_hash=claim.payment_hash,
            )
        await self._payments.session_paid(claim.payment_hash, claim.amount_msat, claim.paid_at)
        await self.store.finished(claim.payment_hash, session.id)
        charger_log(log, charger.id).info(
            "zap of %d msat confirmed by our node: session %s on connector %d",
            claim.amount_msat,
            session.id,
            claim.connector_id,
        )

    async def _refuse(
        self, event_id: str, charger_id: str | None, payment_hash: str | None, error: ZapInvalid
    ) -> str:
        logger = charger_log(log, charger_id) if charger_id else log
        logger.warning("zap receipt %s refused (%s): %s", event_id[:12], error.code, error)
        await self.store.reject(
            event_id,
            charger_id=charger_id,
            payment_hash=payment_hash,
            code=error.code,
            reason=str(error),
            now=self._clock(),
        )
        return error.code


def _event_id(raw_json: str) -> str:
    """The event's id as it claims it, for logs; a hash of the text when it has none."""
    try:
        ident = json.loads(raw_json).get("id")
    except (ValueError, AttributeError):
        ident = None
    if isinstance(ident, str) and len(ident) == 64:
        return ident
    return hashlib.sha256(raw_json.encode("utf-8", "replace")).hexdigest()
