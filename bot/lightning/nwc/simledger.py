"""The simulated wallet's NIP-47 methods, on the simulated node's ledger.

No relay and no encryption here: :meth:`LedgerMethods.call` takes a decoded
:class:`~bot.lightning.nwc.protocol.Request` and answers a
:class:`~bot.lightning.nwc.protocol.Response`. Invoices and payments are the simulated
node's own rows (``bot.lightning.simnode``), so a payment made over NWC shows in
``zapcharge simnode payments`` and an invoice made over NWC is paid with
``zapcharge simnode pay``. Payments go through the node's JSON-RPC handler (``xpay``), so
``dev-simnode-next-pay`` steers them exactly as it steers the Core Lightning backend's.

Core Lightning's error codes map onto NIP-47's: a refused payment is ``PAYMENT_FAILED``
(nothing was paid), 215 is ``INSUFFICIENT_BALANCE``. A repeated payment of an invoice that
is paid or in flight is refused with ``OTHER`` and says so: it is *not* a failure of the
payment (it went through, or may), so a client must not read it as one.
A payment the node leaves in flight (``dev-simnode-next-pay pending``) gets no answer at
all, as a wallet that lost its connection mid-payment; ``lookup_invoice`` then says pending.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import secrets
from collections.abc import Callable, Collection, Mapping
from typing import Any

from bot.lightning.nwc.protocol import (
    ErrorCode,
    Request,
    Response,
    Transaction,
    transaction_json,
)
from bot.lightning.simnode.invoices import decode_invoice
from bot.lightning.simnode.node import ALIAS, SimNode
from bot.lightning.simnode.outgoing import PAY_IN_PROGRESS, DropConnection
from bot.lightning.simnode.rpc import INVALID_PARAMS, RpcFault
from bot.lightning.simnode.rpc import Request as RpcRequest

__all__ = ["DEFAULT_EXPIRY_S", "METHODS", "NOTIFICATIONS", "LedgerMethods"]

METHODS = (
    "pay_invoice",
    "make_invoice",
    "lookup_invoice",
    "list_transactions",
    "get_balance",
    "get_info",
)
NOTIFICATIONS = ("payment_received", "payment_sent")
DEFAULT_EXPIRY_S = 86_400
STARTING_BALANCE_MSAT = 100_000_000_000  # one simulated bitcoin, before any payment
_MAX_PAGE = 100
_HEX64 = re.compile(r"[0-9a-f]{64}")
_INCOMING_STATE = {"unpaid": "pending", "paid": "settled", "expired": "expired"}
_OUTGOING_STATE = {"pending": "pending", "complete": "settled", "failed": "failed"}
_ALREADY_PAID = (201, 219)
_INSUFFICIENT_FUNDS = 215
_NETWORK_NAMES = {"bitcoin": "mainnet"}  # NIP-47 says mainnet; the others keep their names


class BadParams(Exception):
    """A request's params are unusable; answered with OTHER and this message."""


class LedgerMethods:
    def __init__(self, node: SimNode, *, starting_balance_msat: int = STARTING_BALANCE_MSAT):
        self.node = node
        self.starting_balance_msat = starting_balance_msat
        self._rpc_ids = itertools.count(1)
        # What this connection offers, for get_info: set by each call (faults change it).
        self._offered: tuple[str, ...] = METHODS
        self._notifications: tuple[str, ...] = NOTIFICATIONS
        self._handlers: dict[str, Callable[[Mapping[str, Any]], Any]] = {
            "pay_invoice": self._pay_invoice,
            "make_invoice": self._make_invoice,
            "lookup_invoice": self._lookup_invoice,
            "list_transactions": self._list_transactions,
            "get_balance": self._get_balance,
            "get_info": self._get_info,
        }

    async def call(
        self, request: Request, offered: Collection[str], notifications: Collection[str] = ()
    ) -> Response | None:
        """The answer to ``request``; None when the wallet gives none (a payment in flight).

        ``offered``: the methods this connection may use (the rest are NOT_IMPLEMENTED).
        """
        method = request.method
        handler = self._handlers.get(method)
        if handler is None or method not in offered:
            return Response.failure(method, ErrorCode.NOT_IMPLEMENTED, f"{method} is not offered")
        self._offered, self._notifications = tuple(offered), tuple(notifications)
        try:
            if method == "pay_invoice":
                return await self._pay_invoice(request.params)
            result = handler(request.params)
        except BadParams as exc:
            return Response.failure(method, ErrorCode.OTHER, str(exc))
        except LookupError as exc:
            return Response.failure(method, ErrorCode.NOT_FOUND, str(exc.args[0]))
        except RpcFault as fault:
            return Response.failure(method, ErrorCode.OTHER, fault.message)
        return Response.success(method, result)

    # -- transactions -----------------------------------------------------------------

    def transaction(self, direction: str, payment_hash: str) -> Transaction | None:
        """The invoice (``incoming``) or payment (``outgoing``) with this hash."""
        if direction == "incoming":
            row = self.node.state.find("invoices", "payment_hash", payment_hash)
            return None if row is None else incoming(row)
        row = self.node.state.find("payments", "payment_hash", payment_hash)
        return None if row is None else outgoing(row)

    # -- methods ----------------------------------------------------------------------

    async def _pay_invoice(self, params: Mapping[str, Any]) -> Response | None:
        bolt11 = _string(params, "invoice", required=True)
        rpc_params: dict[str, Any] = {"invstring": bolt11}
        amount = _integer(params, "amount")
        if amount is not None:
            try:
                has_amount = "amount_msat" in decode_invoice(str(bolt11))
            except RpcFault:
                has_amount = False  # xpay says why
            if not has_amount:
                rpc_params["amount_msat"] = amount
        try:
            result = await self.node.handle(RpcRequest(self._rpc_id(), "xpay", rpc_params))
        except DropConnection:
            return None
        except RpcFault as fault:
            return Response.failure("pay_invoice", *_payment_error(fault))
        fees = int(result["amount_sent_msat"]) - int(result["amount_msat"])
        return Response.success(
            "pay_invoice", {"preimage": result["payment_preimage"], "fees_paid": fees}
        )

    def _make_invoice(self, params: Mapping[str, Any]) -> dict[str, Any]:
        amount = _integer(params, "amount", required=True)
        if not amount:
            raise BadParams("amount must be at least 1 msat")
        description = _string(params, "description") or ""
        description_hash = _string(params, "description_hash")
        if description_hash is not None:
            description_hash = description_hash.lower()
            if not _HEX64.fullmatch(description_hash):
                raise BadParams("description_hash is not 32 bytes of hex")
            # Both given: they must agree, or the invoice would commit to something else
            # than the client believes (a zap receipt would then fail NIP-57's check).
            if description and hashlib.sha256(description.encode()).hexdigest() != (
                description_hash
            ):
                raise BadParams("description_hash is not the SHA-256 of description")
        expiry = _integer(params, "expiry")
        try:
            row = self.node.create_invoice(
                amount_msat=amount,
                label=f"nwc-{secrets.token_hex(12)}",
                description=description,
                expiry_s=DEFAULT_EXPIRY_S if expiry is None else expiry,
                description_hash=description_hash,
            )
        except RpcFault as fault:
            if fault.code == INVALID_PARAMS:
                raise BadParams(fault.message) from None
            raise
        return transaction_json(incoming(row))

    def _lookup_invoice(self, params: Mapping[str, Any]) -> dict[str, Any]:
        payment_hash = _string(params, "payment_hash")
        bolt11 = _string(params, "invoice")
        if payment_hash is None and bolt11 is None:
            raise BadParams("lookup_invoice needs payment_hash or invoice")
        self.node.expire_due()
        if payment_hash is not None:
            column, value = "payment_hash", payment_hash.lower()
        else:
            column, value = "bolt11", str(bolt11)
        row = self.node.state.find("invoices", column, value)
        if row is not None:
            return transaction_json(incoming(row))
        row = self.node.state.find("payments", column, value)
        if row is not None:
            return transaction_json(outgoing(row))
        raise LookupError("no invoice or payment with that hash or invoice")

    def _list_transactions(self, params: Mapping[str, Any]) -> dict[str, Any]:
        since = _integer(params, "from") or 0
        until = _integer(params, "until")
        until = self.node.now() if until is None else until
        limit = min(_integer(params, "limit") or _MAX_PAGE, _MAX_PAGE)
        offset = _integer(params, "offset") or 0
        unpaid = params.get("unpaid", False)
        if not isinstance(unpaid, bool):
            raise BadParams("unpaid must be true or false")
        kind = params.get("type")
        if kind not in (None, "incoming", "outgoing"):
            raise BadParams("type must be incoming or outgoing")
        self.node.expire_due()
        state = self.node.state
        found: list[Transaction] = []
        if kind in (None, "incoming"):
            statuses = ("paid", "unpaid", "expired") if unpaid else ("paid",)
            rows = state.transactions("invoices", since=since, until=until, statuses=statuses)
            found += [incoming(r) for r in rows]
        if kind in (None, "outgoing"):
            statuses = ("complete", "pending", "failed") if unpaid else ("complete",)
            rows = state.transactions("payments", since=since, until=until, statuses=statuses)
            found += [outgoing(r) for r in rows]
        found.sort(key=lambda t: t.created_at, reverse=True)  # stable: newest rows first
        page = found[offset : offset + limit]
        return {"transactions": [transaction_json(t) for t in page]}

    def _get_balance(self, params: Mapping[str, Any]) -> dict[str, Any]:
        state = self.node.state
        received = sum(r["amount_received_msat"] or 0 for r in state.all("invoices"))
        spent = sum(r["amount_sent_msat"] for r in state.all("payments") if r["status"] != "failed")
        return {"balance": self.starting_balance_msat + received - spent}

    def _get_info(self, params: Mapping[str, Any]) -> dict[str, Any]:
        network = self.node.network
        return {
            "alias": ALIAS,
            "color": self.node.node_id[2:8],
            "pubkey": self.node.node_id,
            "network": _NETWORK_NAMES.get(network, network),
            "block_height": 110,
            "block_hash": "00" * 32,
            "methods": list(self._offered),
            "notifications": list(self._notifications),
        }

    def _rpc_id(self) -> str:
        return f"nwc:{next(self._rpc_ids)}"


def incoming(row: Mapping[str, Any]) -> Transaction:
    """An invoice of the node as NIP-47 shows it; the preimage only once it is paid."""
    paid = row["status"] == "paid"
    created_at = row.get("created_at")
    if created_at is None:  # an invoice of a node older than the created_at column
        created_at = decode_invoice(row["bolt11"])["created_at"]
    hash_only = bool(row["deschashonly"])
    return Transaction(
        type="incoming",
        state=_INCOMING_STATE[row["status"]],
        payment_hash=row["payment_hash"],
        amount_msat=int(row["amount_received_msat"] if paid else row["amount_msat"] or 0),
        created_at=int(created_at),
        invoice=row["bolt11"],
        description=None if hash_only else row["description"],
        description_hash=row.get("description_hash") if hash_only else None,
        preimage=row["preimage"] if paid else None,
        fees_paid_msat=0,
        expires_at=row["expires_at"],
        settled_at=row["paid_at"] if paid else None,
    )


def outgoing(row: Mapping[str, Any]) -> Transaction:
    complete = row["status"] == "complete"
    return Transaction(
        type="outgoing",
        state=_OUTGOING_STATE[row["status"]],
        payment_hash=row["payment_hash"],
        amount_msat=int(row["amount_msat"]),
        created_at=int(row["created_at"]),
        invoice=row["bolt11"],
        preimage=row["preimage"] if complete else None,
        fees_paid_msat=int(row["amount_sent_msat"]) - int(row["amount_msat"]) if complete else 0,
        settled_at=row["completed_at"] if complete else None,
    )


def _payment_error(fault: RpcFault) -> tuple[ErrorCode, str]:
    if fault.code in _ALREADY_PAID:
        return ErrorCode.OTHER, f"invoice already paid: {fault.message}"
    if fault.code == PAY_IN_PROGRESS:
        return ErrorCode.OTHER, f"payment already in flight: {fault.message}"
    if fault.code == _INSUFFICIENT_FUNDS:
        return ErrorCode.INSUFFICIENT_BALANCE, fault.message
    return ErrorCode.PAYMENT_FAILED, fault.message  # no route, expired, bad invoice: unpaid


def _string(params: Mapping[str, Any], key: str, *, required: bool = False) -> str | None:
    value = params.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise BadParams(f"{key} must be a string")
    return value


def _integer(params: Mapping[str, Any], key: str, *, required: bool = False) -> int | None:
    value = params.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**63:
        raise BadParams(f"{key} must be a non-negative integer")
    return value
