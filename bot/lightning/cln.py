"""Core Lightning over its unix socket: the only module that imports ``pyln.client``.

pyln-client is synchronous, opens a socket per call and patches ``json.JSONEncoder`` on
import, so every call goes through :meth:`ClnBackend._rpc` in ``asyncio.to_thread``. That
one function maps failures: a refusal from the node becomes ``LightningError(code=...)``
with CLN's code; a socket that cannot be reached or drops becomes ``LightningUnavailable``.

Retrying: reads and ``waitanyinvoice`` retry an unreachable node with backoff (bounded for
reads, forever for the payment stream); ``invoice`` retries too and, when a retry meets
"duplicate label" (900), returns the invoice the lost attempt created. ``pay`` never
re-sends: after a lost connection it asks ``listpays`` what happened, and an answer it
cannot get is PENDING, never FAILED.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from pyln.client import LightningRpc, RpcError

from bot.backoff import Backoff
from bot.errors import LightningError, LightningUnavailable, is_retryable
from bot.ports.lightning import (
    DecodedInvoice,
    Invoice,
    InvoiceStatus,
    NodeInfo,
    Payment,
    PaymentStatus,
)

__all__ = ["DUPLICATE_LABEL", "ClnBackend"]

log = logging.getLogger(__name__)

DUPLICATE_LABEL = 900
WAIT_TIMED_OUT = 904
UNKNOWN_COMMAND = -32601
ALREADY_PAID = (201, 219)  # pay, xpay


class _Silent:
    """A logger for pyln-client that drops its debug lines (they carry preimages)."""

    def debug(self, *args: object) -> None:
        pass


_SILENT = _Silent()


class ClnBackend:
    """:class:`~bot.ports.lightning.LightningBackend` on Core Lightning (or the simnode)."""

    def __init__(
        self,
        rpc_path: Path,
        *,
        wait_timeout_s: int = 2,
        retry_for_s: int = 60,
        backoff: Backoff | None = None,
    ) -> None:
        # wait_timeout_s bounds each waitanyinvoice: a thread in to_thread cannot be
        # cancelled, so shutdown waits at most this long for the one in flight.
        self.rpc_path = rpc_path
        self.wait_timeout_s = wait_timeout_s
        self.retry_for_s = retry_for_s
        self.backoff = backoff or Backoff()
        # One client for all threads: each call opens its own socket, so calls do not
        # interfere (only its request-id counter is shared, and ids need not be unique
        # across sockets). Its debug log would print whole replies, preimages included.
        self._rpc_client = LightningRpc(str(rpc_path), logger=_SILENT)

    async def close(self) -> None:
        """pyln-client holds no connection between calls: nothing to release."""

    async def _rpc(self, method: str, params: dict[str, Any]) -> Any:
        return await asyncio.to_thread(self._call, method, params)

    def _call(self, method: str, params: dict[str, Any]) -> Any:
        try:
            return self._rpc_client.call(method, params)
        except RpcError as exc:
            error = exc.error
            if isinstance(error, dict):
                raise LightningError(str(error.get("message")), code=error.get("code")) from None
            # pyln reports a closed socket as an error *string*, not a node refusal.
            raise LightningUnavailable(f"{method}: {error}") from None
        except OSError as exc:
            raise LightningUnavailable(
                f"{method}: {exc.strerror or exc} ({self.rpc_path})"
            ) from None
        except ValueError as exc:  # a reply that is not JSON-RPC: treat the node as broken
            raise LightningUnavailable(f"{method}: malformed reply ({exc})") from None

    async def _retrying(self, method: str, params: dict[str, Any]) -> Any:
        """Call, retrying an unreachable node with backoff; safe only for idempotent calls."""
        return await self.backoff.retrying(
            lambda: self._rpc(method, params),
            catching=LightningError,
            retryable=is_retryable,
            first_failure=lambda exc: log.warning("lightning node unreachable (%s); retrying", exc),
        )

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
        params: dict[str, Any] = {
            "amount_msat": amount_msat,
            "label": label,
            "description": description,
            "expiry": expiry_s,
        }
        if description_hash_only:
            params["deschashonly"] = True
        try:
            result = await self._rpc("invoice", params)
        except LightningError as exc:
            if not is_retryable(exc):
                raise
            result = await self._retry_invoice(params)
        return Invoice(
            label=label,
            bolt11=result["bolt11"],
            payment_hash=result["payment_hash"],
            amount_msat=amount_msat,
            status=InvoiceStatus.UNPAID,
            expires_at=int(result["expires_at"]),
        )

    async def _retry_invoice(self, params: dict[str, Any]) -> Any:
        # The lost attempt may have created the invoice: a 900 now means it did.
        try:
            return await self._retrying("invoice", params)
        except LightningError as exc:
            if is_retryable(exc) or exc.code != DUPLICATE_LABEL:
                raise
        found = await self._retrying("listinvoices", {"label": params["label"]})
        invoices = found["invoices"]
        ours = bool(invoices) and invoices[0].get("amount_msat") == params["amount_msat"]
        if ours and "description" in invoices[0]:  # absent with deschashonly
            ours = invoices[0]["description"] == params["description"]
        if not ours:
            raise LightningError("label already used by another invoice", code=DUPLICATE_LABEL)
        return invoices[0]

    async def paid_invoices(self, after_pay_index: int) -> AsyncIterator[Invoice]:
        cursor = after_pay_index
        while True:
            try:
                result = await self._retrying(
                    "waitanyinvoice", {"lastpay_index": cursor, "timeout": self.wait_timeout_s}
                )
            except LightningError as exc:
                if is_retryable(exc):
                    log.warning("lightning node still unreachable (%s); waiting for it", exc)
                    continue
                if exc.code == WAIT_TIMED_OUT:
                    continue
                raise
            invoice = invoice_from_cln(result)
            if invoice.pay_index is None or invoice.pay_index <= cursor:
                continue  # defensive: lightningd only returns later ones
            cursor = invoice.pay_index
            yield invoice

    async def lookup_invoice(self, payment_hash: str) -> Invoice | None:
        result = await self._retrying("listinvoices", {"payment_hash": payment_hash})
        invoices = result["invoices"]
        return invoice_from_cln(invoices[0]) if invoices else None

    async def pay(
        self, bolt11: str, *, max_fee_msat: int, amount_msat: int | None = None
    ) -> Payment:
        """xpay (or pay); LightningUnavailable only while nothing has been sent yet."""
        decoded = await self.decode_invoice(bolt11)
        params: dict[str, Any] = {"maxfee": max_fee_msat, "retry_for": self.retry_for_s}
        if amount_msat is not None and decoded.amount_msat is None:
            params["amount_msat"] = amount_msat
        elif amount_msat is not None and amount_msat != decoded.amount_msat:
            # A refund must pay what we decided, not what someone else's invoice asks.
            raise LightningError(
                f"invoice asks {decoded.amount_msat} msat, expected {amount_msat} msat"
            )
        try:
            result = await self._send(bolt11, params)
        except LightningError as exc:
            if not is_retryable(exc):
                return await self._outcome(decoded.payment_hash, failure=exc)
            log.warning("connection lost while paying %s: %s", decoded.payment_hash, exc)
            return await self._outcome(decoded.payment_hash, failure=None)
        return Payment(
            payment_hash=decoded.payment_hash,
            status=PaymentStatus.PAID,
            amount_msat=int(result["amount_msat"]),
            amount_sent_msat=int(result["amount_sent_msat"]),
            preimage=result["payment_preimage"],
        )

    async def _send(self, bolt11: str, params: dict[str, Any]) -> Any:
        try:
            return await self._rpc("xpay", {"invstring": bolt11, **params})
        except LightningError as exc:
            if is_retryable(exc) or exc.code != UNKNOWN_COMMAND:
                raise
        log.info("node has no xpay; using pay")  # lightningd before v24.11
        return await self._rpc("pay", {"bolt11": bolt11, **params})

    async def _outcome(self, payment_hash: str, failure: LightningError | None) -> Payment:
        """What the node says about a payment whose call was refused or whose answer was lost."""
        try:
            found = await self.lookup_payment(payment_hash)
        except LightningError as exc:
            if not is_retryable(exc):
                raise
            return Payment(payment_hash, PaymentStatus.PENDING)  # cannot ask: still unknown
        if failure is None:
            # The answer was lost. Even with no record we say PENDING: the caller asks
            # again later (lookup_payment) and only then gives the money up.
            return found or Payment(payment_hash, PaymentStatus.PENDING)
        if found is not None and found.status is not PaymentStatus.FAILED:
            return found  # e.g. "already paid": listpays holds the completed attempt
        if failure.code in ALREADY_PAID:
            return Payment(payment_hash, PaymentStatus.PAID, failure=str(failure))
        # Refused, and no attempt of ours is still in flight: a definite failure.
        return Payment(payment_hash, PaymentStatus.FAILED, failure=str(failure))

    async def lookup_payment(self, payment_hash: str) -> Payment | None:
        result = await self._retrying("listpays", {"payment_hash": payment_hash})
        return payment_from_cln(payment_hash, result["pays"])

    async def decode_invoice(self, bolt11: str) -> DecodedInvoice:
        result = await self._retrying("decode", {"string": bolt11})
        if result.get("type") != "bolt11 invoice" or not result.get("valid"):
            raise LightningError(f"not a valid BOLT11 invoice ({result.get('type')})")
        amount = result.get("amount_msat")
        return DecodedInvoice(
            bolt11=bolt11,
            currency=result["currency"],
            amount_msat=None if amount is None else int(amount),
            payment_hash=result["payment_hash"],
            description=result.get("description"),
            description_hash=result.get("description_hash"),
            payee=result["payee"],
            created_at=int(result["created_at"]),
            expiry_s=int(result["expiry"]),
        )

    async def node_info(self) -> NodeInfo:
        info = await self._retrying("getinfo", {})
        return NodeInfo(
            node_id=info["id"],
            alias=info["alias"],
            network=info["network"],
            block_height=int(info["blockheight"]),
            version=info["version"],
        )


def invoice_from_cln(item: dict[str, Any]) -> Invoice:
    """One entry of listinvoices / the result of waitanyinvoice."""
    return Invoice(
        label=item["label"],
        bolt11=item.get("bolt11", ""),
        payment_hash=item["payment_hash"],
        amount_msat=int(item.get("amount_msat", 0)),
        status=InvoiceStatus(item["status"]),
        expires_at=int(item["expires_at"]),
        pay_index=item.get("pay_index"),
        paid_at=item.get("paid_at"),
        preimage=item.get("payment_preimage"),
        amount_received_msat=item.get("amount_received_msat"),
    )


def payment_from_cln(payment_hash: str, pays: list[dict[str, Any]]) -> Payment | None:
    """listpays groups attempts; one complete attempt means paid, one pending means pending."""
    if not pays:
        return None
    complete = [p for p in pays if p["status"] == "complete"]
    if complete:
        pay = complete[0]
        return Payment(
            payment_hash=payment_hash,
            status=PaymentStatus.PAID,
            amount_msat=pay.get("amount_msat"),
            amount_sent_msat=pay.get("amount_sent_msat"),
            preimage=pay.get("preimage"),
        )
    if any(p["status"] == "pending" for p in pays):
        return Payment(payment_hash, PaymentStatus.PENDING)
    return Payment(payment_hash, PaymentStatus.FAILED, failure="every attempt failed")
