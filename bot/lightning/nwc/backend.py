"""The Lightning backend on a Nostr Wallet Connect wallet (NIP-47), with CLN's guarantees.

Receiving, exactly once. NIP-47 has no pay_index, so the backend numbers settled
invoices itself (``bot.store.nwc``): an invoice of ours gets the next index the first time
the wallet confirms it settled, in one statement, and keeps it. :meth:`paid_invoices`
yields the rows with an index above the caller's cursor, so the payment watcher's
argument (bot/lnurl/watcher.py) holds unchanged. The wallet is asked about our open
invoices (``list_transactions`` from the oldest open one, or ``lookup_invoice`` each) when
the stream starts (payments made while the bot was down), after a wallet relay came back
(notifications sent meanwhile are lost), and every ``poll_interval_s`` (often when the
wallet sends no notifications). A ``payment_received`` notification only makes us ask
``lookup_invoice``: a payment counts when the wallet says so in a response.

Paying, never twice. ``pay_invoice`` is sent once. No relay took it: LightningUnavailable
(nothing was sent). No response in time: the outcome is *unknown*, so PENDING after one
``lookup_invoice`` by payment hash; the caller asks :meth:`lookup_payment` later. The
wallet's error codes map through :data:`PAY_ERRORS`, the one table of that decision.

Invoices the wallet returns are decoded locally and checked (amount, payment hash,
description or its hash, network) before anyone is shown them.
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from bot.backoff import Backoff
from bot.errors import LightningError, LightningUnavailable, LnurlError, is_retryable
from bot.lightning.nwc.client import NoAnswer, NwcClient
from bot.lightning.nwc.protocol import (
    ErrorCode,
    Response,
    Transaction,
    WalletError,
    WalletInfo,
    parse_transaction,
)
from bot.ports.bolt11 import NETWORK_CURRENCY, DecodedInvoice, decode_invoice
from bot.ports.lightning import (
    Invoice,
    InvoiceStatus,
    NodeInfo,
    Payment,
    PaymentStatus,
)
from bot.store.db import Database
from bot.store.nwc import NwcInvoiceStore, Settlement

__all__ = ["PAY_ERRORS", "REQUIRED_METHODS", "NwcBackend", "PayVerdict", "check_wallet"]

log = logging.getLogger(__name__)

REQUIRED_METHODS = ("make_invoice", "lookup_invoice", "pay_invoice")
# NIP-47 get_info names networks its own way.
_NETWORKS = {"mainnet": "bitcoin", "bitcoin": "bitcoin", "testnet": "testnet"}
_NETWORKS |= {"testnet4": "testnet4", "signet": "signet", "regtest": "regtest"}
# A payment may still arrive a little after an invoice's expiry (an HTLC in flight).
EXPIRED_GRACE_S = 600
RECONNECT_ASKS = 3  # after our relay is back: asks before waiting the whole poll interval


class PayVerdict(enum.Enum):
    FAILED = "failed"  # definite: the wallet did not pay (still asked once, see _outcome)
    RETRY = "retry"  # nothing was sent; try again later (LightningUnavailable)
    UNKNOWN = "unknown"  # the wallet may have sent something: PENDING until lookup says


# What a pay_invoice error means for the money. The one place this is decided.
PAY_ERRORS: Mapping[ErrorCode, PayVerdict] = {
    # The wallet tried and gave up: failed. Its own words, still checked by lookup.
    ErrorCode.PAYMENT_FAILED: PayVerdict.FAILED,
    # Refusals before anything is sent: nothing left the wallet, this attempt is over.
    # (The refund desk releases the claim and may try again later, as after CLN's 215.)
    ErrorCode.INSUFFICIENT_BALANCE: PayVerdict.FAILED,
    ErrorCode.QUOTA_EXCEEDED: PayVerdict.FAILED,
    ErrorCode.RESTRICTED: PayVerdict.FAILED,
    ErrorCode.UNAUTHORIZED: PayVerdict.FAILED,
    ErrorCode.NOT_IMPLEMENTED: PayVerdict.FAILED,
    ErrorCode.UNSUPPORTED_ENCRYPTION: PayVerdict.FAILED,
    # "Retry in a few seconds" (NIP-47): refused before sending, so safe to send again.
    ErrorCode.RATE_LIMITED: PayVerdict.RETRY,
    # The wallet broke somewhere, maybe after sending: unknown.
    ErrorCode.INTERNAL: PayVerdict.UNKNOWN,
    ErrorCode.OTHER: PayVerdict.UNKNOWN,
    # Not a pay_invoice error in NIP-47: a wallet that says it cannot be trusted either way.
    ErrorCode.NOT_FOUND: PayVerdict.UNKNOWN,
}
# Errors of the other methods that mean "not now" rather than "no".
_TRANSIENT = frozenset({ErrorCode.RATE_LIMITED, ErrorCode.INTERNAL})


async def check_wallet(client: NwcClient, network: str, timeout_s: float) -> WalletInfo:
    """What the bot needs of a wallet: LightningUnavailable when it does not answer,
    LightningError naming the methods it lacks or the network that differs."""
    info = await client.start()
    missing = [m for m in REQUIRED_METHODS if m not in info.methods]
    if missing:
        raise LightningError(
            f"the NWC wallet lacks {', '.join(missing)} (it offers:"
            f" {' '.join(sorted(info.methods)) or 'nothing'}); the bot needs"
            f" {', '.join(REQUIRED_METHODS)}"
        )
    if "get_info" in info.methods:
        outcome = await client.call("get_info", {}, timeout_s=timeout_s)
        if isinstance(outcome, NoAnswer):
            raise LightningUnavailable(f"get_info: {outcome.reason}")
        reported = (outcome.result or {}).get("network")
        named = _NETWORKS.get(str(reported), str(reported)) if reported else network
        if named != network:
            raise LightningError(f"the NWC wallet is on {named}, [lightning] network is {network}")
    return info


class NwcBackend:
    """:class:`~bot.ports.lightning.LightningBackend` on an NWC wallet service."""

    def __init__(
        self,
        client: NwcClient,
        db: Database,
        *,
        network: str,
        request_timeout_s: float = 15.0,
        pay_timeout_s: float = 90.0,
        poll_interval_s: float = 30.0,
        poll_without_notifications_s: float = 3.0,
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.store = NwcInvoiceStore(db)
        self.network = network
        self.request_timeout_s = request_timeout_s
        self.pay_timeout_s = pay_timeout_s
        self._poll_notified_s = poll_interval_s
        self._poll_silent_s = poll_without_notifications_s
        self.backoff = backoff or Backoff()
        self._clock = clock
        self._asks_after_reconnect = 0  # asks left while the wallet is not back yet
        self._ready_lock = asyncio.Lock()
        self._info: WalletInfo | None = None

    # -- start-up --------------------------------------------------------------------

    async def ready(self) -> WalletInfo:
        """Connect and check the wallet once (:func:`check_wallet`)."""
        async with self._ready_lock:
            if self._info is None:
                self._info = await check_wallet(self.client, self.network, self.request_timeout_s)
            return self._info

    @property
    def _poll_interval_s(self) -> float:
        info = self._info
        notified = info is not None and "payment_received" in info.notifications
        return self._poll_notified_s if notified else self._poll_silent_s

    # -- requests --------------------------------------------------------------------

    async def _ask(self, method: str, params: dict[str, Any], timeout_s: float) -> Response:
        outcome = await self.client.call(method, params, timeout_s=timeout_s)
        if isinstance(outcome, NoAnswer):
            raise LightningUnavailable(f"{method}: {outcome.reason}")
        return outcome

    async def _result(self, method: str, params: dict[str, Any]) -> Mapping[str, Any]:
        response = await self._ask(method, params, self.request_timeout_s)
        if response.error is not None:
            raise _refusal(method, response.error)
        assert response.result is not None  # the codec sets exactly one of the two
        return response.result

    async def _retrying(self, method: str, params: dict[str, Any]) -> Mapping[str, Any]:
        """Ask, retrying a wallet that does not answer; only for calls safe to repeat."""
        await self.ready_retrying()
        return await self.backoff.retrying(
            lambda: self._result(method, params),
            catching=LightningError,
            retryable=is_retryable,
            first_failure=lambda exc: log.warning("nwc wallet does not answer (%s); retrying", exc),
        )

    async def ready_retrying(self) -> WalletInfo:
        return await self.backoff.retrying(
            self.ready, catching=LightningError, retryable=is_retryable
        )

    async def _lookup(self, payment_hash: str) -> Transaction | None:
        await self.ready_retrying()
        params = {"payment_hash": payment_hash}
        response = await self.backoff.retrying(
            lambda: self._ask("lookup_invoice", params, self.request_timeout_s),
            catching=LightningError,
            retryable=is_retryable,
        )
        if response.error is not None and response.error.code is ErrorCode.NOT_FOUND:
            return None
        if response.error is not None:
            raise _refusal("lookup_invoice", response.error)
        assert response.result is not None
        return parse_transaction(response.result)

    # -- receiving -------------------------------------------------------------------

    async def create_invoice(
        self,
        amount_msat: int,
        label: str,
        description: str,
        *,
        expiry_s: int,
        description_hash_only: bool = False,
    ) -> Invoice:
        if amount_msat <= 0:
            raise ValueError("amount_msat must be positive")
        params: dict[str, Any] = {"amount": amount_msat, "expiry": expiry_s}
        if description_hash_only:  # NIP-57: the invoice commits to the exact zap request
            params["description_hash"] = hashlib.sha256(description.encode()).hexdigest()
        else:
            params["description"] = description
        # Safe to repeat: an invoice made by a lost attempt is never shown to anyone.
        transaction = parse_transaction(await self._retrying("make_invoice", params))
        decoded = self._checked(transaction, amount_msat, description, description_hash_only)
        invoice = Invoice(
            label=label,
            bolt11=decoded.bolt11,
            payment_hash=decoded.payment_hash,
            amount_msat=amount_msat,
            status=InvoiceStatus.UNPAID,
            expires_at=decoded.expires_at,
        )
        await self.store.add(invoice, created_at=int(self._clock()))
        return invoice

    def _checked(
        self, transaction: Transaction, amount_msat: int, description: str, hash_only: bool
    ) -> DecodedInvoice:
        """The wallet's invoice, decoded here; LightningError when it is not what we asked."""
        if not transaction.invoice:
            raise LightningError("make_invoice: the wallet returned no invoice")
        decoded = _decode(transaction.invoice)
        wanted_hash = hashlib.sha256(description.encode()).hexdigest()
        problems = [
            (decoded.amount_msat != amount_msat, f"amount {decoded.amount_msat} msat"),
            (decoded.payment_hash != transaction.payment_hash, "another payment hash"),
            (decoded.currency != NETWORK_CURRENCY[self.network], f"network {decoded.currency}"),
            (hash_only and decoded.description_hash != wanted_hash, "another description hash"),
            (not hash_only and decoded.description != description, "another description"),
        ]
        wrong = [text for bad, text in problems if bad]
        if wrong:
            raise LightningError(f"make_invoice: the wallet's invoice has {', '.join(wrong)}")
        return decoded

    async def paid_invoices(self, after_pay_index: int) -> AsyncIterator[Invoice]:
        while True:  # the stream waits for the wallet as long as it takes (CLN's does too)
            try:
                await self.ready_retrying()
                break
            except LightningError as exc:
                if not is_retryable(exc):
                    raise
                log.warning("nwc wallet still does not answer (%s); waiting for it", exc)
        cursor = after_pay_index
        await self._poll_quietly()  # paid while the bot was down
        while True:
            batch = await self.store.paid_after(cursor)
            for invoice in batch:
                assert invoice.pay_index is not None
                cursor = invoice.pay_index
                yield invoice
            if not batch:
                await self._next_news()

    async def _next_news(self) -> None:
        """Wait for a notification, a reconnect or the poll timer, and act on it."""
        reconnected = self.client.reconnected
        notice = asyncio.ensure_future(self.client.notifications.get())
        relay_back = asyncio.ensure_future(reconnected.wait())
        try:
            done, _ = await asyncio.wait(
                {notice, relay_back},
                timeout=self._poll_interval_s,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            for future in (notice, relay_back):
                future.cancel()
        if notice in done:
            notification = notice.result()
            if notification.notification_type == "payment_received":
                await self._confirm(notification.notification.get("payment_hash"))
            return
        if relay_back in done:
            log.info("nwc wallet relay connected again: asking about open invoices")
            reconnected.clear()
            self._asks_after_reconnect = RECONNECT_ASKS
        if await self._poll_quietly():
            self._asks_after_reconnect = 0
        elif self._asks_after_reconnect > 0:
            # Our connection is back, the wallet service's may not be yet (it reconnects
            # on its own schedule): ask again once a request timeout later, not a poll later.
            self._asks_after_reconnect -= 1
            reconnected.set()

    async def _confirm(self, payment_hash: object) -> None:
        """A notification says paid: count it only when lookup_invoice agrees."""
        if not isinstance(payment_hash, str) or await self.store.get(payment_hash) is None:
            return  # not one of our invoices
        try:
            found = await self._lookup(payment_hash)
        except LightningError as exc:
            log.warning("nwc: cannot confirm payment %s yet: %s", payment_hash, exc)
            return  # the next poll asks again
        if found is not None:
            await self._settle(found)

    async def _poll_quietly(self) -> bool:
        """Poll; False (and a log line) when the wallet could not be asked."""
        try:
            await self._poll()
        except LightningError as exc:
            log.warning("nwc: polling the wallet failed (%s); trying again later", exc)
            return False
        return True

    async def _poll(self) -> None:
        now = int(self._clock())
        await self.store.close_expired(now - EXPIRED_GRACE_S)
        open_invoices = await self.store.open_invoices()
        if not open_invoices:
            return
        info = self._info
        if info is not None and "list_transactions" in info.methods:
            wanted = {i.payment_hash for i in open_invoices}
            # From the oldest open invoice on: the open rows are the stored cursor.
            since = max(0, (await self.store.oldest_open() or now) - 60)
            for transaction in await self._settled_since(since):
                if transaction.payment_hash in wanted:
                    await self._settle(transaction)
            return
        for invoice in open_invoices:
            found = await self._lookup(invoice.payment_hash)
            if found is not None:
                await self._settle(found)

    async def _settled_since(self, since: int, page: int = 100) -> list[Transaction]:
        found: list[Transaction] = []
        for offset in range(0, 20 * page, page):  # bounded: 2,000 payments a poll
            params = {"from": since, "type": "incoming", "limit": page, "offset": offset}
            result = await self._retrying("list_transactions", params)
            items = result.get("transactions")
            if not isinstance(items, list):
                raise LightningError("list_transactions: no transactions list")
            found += [t for t in map(parse_transaction, items) if t.settled]
            if len(items) < page:
                break
        return found

    async def _settle(self, transaction: Transaction) -> None:
        if transaction.type != "incoming" or not transaction.settled:
            return
        preimage = transaction.preimage
        if preimage is not None and not _proves(preimage, transaction.payment_hash):
            log.error("nwc: wallet says %s settled with a wrong preimage", transaction.payment_hash)
            return
        settlement = Settlement(
            paid_at=transaction.settled_at or int(self._clock()),
            preimage=preimage,
            amount_received_msat=transaction.amount_msat,
        )
        if await self.store.settle(transaction.payment_hash, settlement):
            log.info("nwc: invoice %s settled", transaction.payment_hash)

    async def lookup_invoice(self, payment_hash: str) -> Invoice | None:
        found = await self._lookup(payment_hash)
        if found is None or found.type != "incoming":
            return None
        await self._settle(found)
        ours = await self.store.get(payment_hash)
        if ours is not None and ours.status is InvoiceStatus.PAID:
            return ours
        expires_at = found.expires_at or (ours.expires_at if ours else 0)
        expired = found.state == "expired" or (expires_at and expires_at < self._clock())
        return Invoice(
            label=ours.label if ours else "",
            bolt11=found.invoice or (ours.bolt11 if ours else ""),
            payment_hash=payment_hash,
            amount_msat=found.amount_msat,
            status=InvoiceStatus.EXPIRED if expired else InvoiceStatus.UNPAID,
            expires_at=expires_at,
        )

    # -- paying ----------------------------------------------------------------------

    async def pay(
        self, bolt11: str, *, max_fee_msat: int, amount_msat: int | None = None
    ) -> Payment:
        """pay_invoice, sent once. NIP-47 has no fee limit: the wallet's own budget applies."""
        decoded = await self.decode_invoice(bolt11)
        params: dict[str, Any] = {"invoice": bolt11}
        if amount_msat is not None and decoded.amount_msat is None:
            params["amount"] = amount_msat
        elif amount_msat is not None and amount_msat != decoded.amount_msat:
            raise LightningError(
                f"invoice asks {decoded.amount_msat} msat, expected {amount_msat} msat"
            )
        await self.ready()  # LightningUnavailable here: nothing was sent
        outcome = await self.client.call("pay_invoice", params, timeout_s=self.pay_timeout_s)
        payment_hash = decoded.payment_hash
        if isinstance(outcome, NoAnswer):
            if not outcome.delivered:
                raise LightningUnavailable(f"pay_invoice: {outcome.reason}")
            log.warning("nwc: no answer to pay_invoice %s: %s", payment_hash, outcome.reason)
            return await self._outcome(payment_hash, None)
        if outcome.error is not None:
            verdict = PAY_ERRORS.get(outcome.error.code, PayVerdict.UNKNOWN)
            if verdict is PayVerdict.RETRY:
                raise LightningUnavailable(f"pay_invoice: {_describe(outcome.error)}")
            failure = _describe(outcome.error) if verdict is PayVerdict.FAILED else None
            return await self._outcome(payment_hash, failure)
        result = outcome.result or {}
        preimage = result.get("preimage")
        if not (isinstance(preimage, str) and _proves(preimage, payment_hash)):
            # The wallet's word that it paid is what Core Lightning's is too; a preimage
            # that does not prove it is noted (a simulated wallet cannot know the real one).
            log.warning("nwc: pay_invoice %s answered without a matching preimage", payment_hash)
        amount = decoded.amount_msat or amount_msat
        fees = result.get("fees_paid")
        fees = fees if isinstance(fees, int) and not isinstance(fees, bool) else 0
        return Payment(
            payment_hash=payment_hash,
            status=PaymentStatus.PAID,
            amount_msat=amount,
            amount_sent_msat=None if amount is None else amount + fees,
            preimage=preimage.lower() if isinstance(preimage, str) else None,
        )

    async def _outcome(self, payment_hash: str, failure: str | None) -> Payment:
        """After a refusal (``failure``) or no answer (None): what lookup says, else
        FAILED for a refusal and PENDING when nothing is known."""
        try:
            found = await self.lookup_payment(payment_hash)
        except LightningError as exc:
            if not is_retryable(exc):
                raise
            return Payment(payment_hash, PaymentStatus.PENDING)
        if found is not None and found.status is not PaymentStatus.FAILED:
            return found  # e.g. an earlier attempt of ours is in flight or done
        if failure is None:
            return found or Payment(payment_hash, PaymentStatus.PENDING)
        return Payment(payment_hash, PaymentStatus.FAILED, failure=failure)

    async def lookup_payment(self, payment_hash: str) -> Payment | None:
        found = await self._lookup(payment_hash)
        if found is None or found.type != "outgoing":
            return None
        if found.settled:
            return Payment(
                payment_hash=payment_hash,
                status=PaymentStatus.PAID,
                amount_msat=found.amount_msat,
                amount_sent_msat=found.amount_msat + found.fees_paid_msat,
                preimage=found.preimage,
            )
        if found.state in ("failed", "expired"):
            return Payment(payment_hash, PaymentStatus.FAILED, failure=f"wallet: {found.state}")
        return Payment(payment_hash, PaymentStatus.PENDING)

    # -- the rest --------------------------------------------------------------------

    async def decode_invoice(self, bolt11: str) -> DecodedInvoice:
        return _decode(bolt11)

    async def node_info(self) -> NodeInfo:
        await self.ready_retrying()
        info = self._info
        if info is None or "get_info" not in info.methods:
            return NodeInfo(self.client.uri.wallet_pubkey, "nwc wallet", self.network, 0, "nwc")
        result = await self._retrying("get_info", {})
        network = str(result.get("network") or self.network)
        height = result.get("block_height")
        return NodeInfo(
            node_id=str(result.get("pubkey") or self.client.uri.wallet_pubkey),
            alias=str(result.get("alias") or "nwc wallet"),
            network=_NETWORKS.get(network, network),
            block_height=height if isinstance(height, int) else 0,
            version="nwc",
        )

    async def close(self) -> None:
        await self.client.close()


def _decode(bolt11: str) -> DecodedInvoice:
    try:
        return decode_invoice(bolt11)
    except LnurlError as exc:
        raise LightningError(str(exc)) from None


def _describe(error: WalletError) -> str:
    return f"{error.raw_code}: {error.message}" if error.message else error.raw_code


def _refusal(method: str, error: WalletError) -> LightningError:
    text = f"{method}: {_describe(error)}"
    if error.code in _TRANSIENT:
        return LightningUnavailable(text)
    return LightningError(text)


def _proves(preimage: str, payment_hash: str) -> bool:
    try:
        return hashlib.sha256(bytes.fromhex(preimage)).hexdigest() == payment_hash
    except ValueError:  # not hex
        return False
