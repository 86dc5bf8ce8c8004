"""The simulated node's JSON-RPC methods: CLN's parameters, results and error codes.

No sockets here: :meth:`SimNode.handle` takes a parsed request and returns the result or
raises :class:`~bot.lightning.simnode.rpc.RpcFault` (or :class:`DropConnection`, which the
server answers by hanging up, as a crashing lightningd would). Incoming payments (the
wallet side) and invoices live here; outgoing payments are in ``outgoing.py``.

Methods that lightningd does not have start with ``dev-simnode-``: ``receive`` (the payer's
wallet), ``hangup-after`` (lose the answer to the next call of a method), and the payment
controls described in ``outgoing.py``.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from collections.abc import Awaitable, Callable, Collection
from pathlib import Path
from typing import Any

from coincurve import PrivateKey

from bot.lightning.simnode.invoices import CURRENCIES, decode_invoice, issue_invoice
from bot.lightning.simnode.outgoing import DropConnection, Outgoing
from bot.lightning.simnode.rpc import (
    INVALID_PARAMS,
    METHOD_NOT_FOUND,
    Request,
    RpcFault,
    bind_params,
    parse_msat,
)
from bot.lightning.simnode.state import SimState

__all__ = ["ALIAS", "VERSION", "SettledListener", "SimNode"]

VERSION = "zapcharge-simnode-1"  # never a lightningd version: this is a simulation
ALIAS = "ZAPCHARGE-SIMNODE"
DEFAULT_EXPIRY_S = 604800  # lightningd's default: one week

Handler = Callable[[dict[str, Any]], Awaitable[Any]]
# Told of every settlement: ("incoming", payment_hash) when an invoice is paid,
# ("outgoing", payment_hash) when a payment completes. The NWC wallet service notifies
# its client from here. Called synchronously, right after the ledger commits.
SettledListener = Callable[[str, str], None]


class SimNode:
    def __init__(
        self,
        state: SimState,
        *,
        lightning_dir: Path,
        network: str = "regtest",
        clock: Callable[[], float] = time.time,
        without: Collection[str] = (),
    ) -> None:
        """``without`` names methods to leave out, to act like an older lightningd."""
        if network not in CURRENCIES:
            raise ValueError(f"unknown network {network!r}")
        self.state, self.network, self.clock = state, network, clock
        self.lightning_dir = lightning_dir
        self._key = state.node_key()
        self.node_id = PrivateKey.from_hex(self._key).public_key.format(compressed=True).hex()
        self._paid = asyncio.Event()  # replaced after each payment: wakes every waiter once
        self._hangups: list[str] = []  # methods whose next call is done but not answered
        self.outgoing = Outgoing(self, state)
        self._settled_listeners: list[SettledListener] = []
        self._methods: dict[str, tuple[Handler, tuple[str, ...], tuple[str, ...]]] = {
            "getinfo": (self._getinfo, (), ()),
            "invoice": (
                self._invoice,
                (
                    "amount_msat",
                    "label",
                    "description",
                    "expiry",
                    "fallbacks",
                    "preimage",
                    "exposeprivatechannels",
                    "cltv",
                    "deschashonly",
                ),
                ("amount_msat", "label", "description"),
            ),
            "listinvoices": (
                self._listinvoices,
                ("label", "invstring", "payment_hash", "offer_id", "index", "start", "limit"),
                (),
            ),
            "waitanyinvoice": (self._waitanyinvoice, ("lastpay_index", "timeout"), ()),
            "decode": (self._decode, ("string",), ("string",)),
            "dev-simnode-receive": (self._receive, ("invstring", "amount_msat"), ("invstring",)),
            "dev-simnode-hangup-after": (self._hangup_after, ("method",), ("method",)),
            **self.outgoing.methods(),
        }
        for method in without:
            self._methods.pop(method, None)

    def add_method(
        self, name: str, handler: Handler, names: tuple[str, ...], required: tuple[str, ...] = ()
    ) -> None:
        """Serve one more JSON-RPC method (the NWC wallet's ``dev-simnode-nwc-*`` controls)."""
        self._methods[name] = (handler, names, required)

    def on_settled(self, listener: SettledListener) -> None:
        self._settled_listeners.append(listener)

    def settled(self, direction: str, payment_hash: str) -> None:
        for listener in self._settled_listeners:
            listener(direction, payment_hash)

    @property
    def node_key(self) -> str:
        return self._key

    def now(self) -> int:
        return int(self.clock())

    async def handle(self, request: Request) -> Any:
        entry = self._methods.get(request.method)
        if entry is None:
            raise RpcFault(METHOD_NOT_FOUND, f"Unknown command '{request.method}'")
        handler, names, required = entry
        result = await handler(bind_params(request.params, names, required))
        if request.method in self._hangups:
            self._hangups.remove(request.method)
            raise DropConnection  # done, but the answer is lost (a crash, a cut socket)
        return result

    async def _hangup_after(self, params: dict[str, Any]) -> dict[str, Any]:
        """Test control: do the next call of ``method`` but hang up instead of answering."""
        self._hangups.append(str(params["method"]))
        return {"queued": len(self._hangups)}

    async def _getinfo(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": self.node_id,
            "alias": ALIAS,
            "color": self.node_id[2:8],
            "num_peers": 0,
            "num_pending_channels": 0,
            "num_active_channels": 0,
            "num_inactive_channels": 0,
            "address": [],
            "binding": [{"type": "local socket", "socket": "lightning-rpc"}],
            "version": VERSION,
            "blockheight": 110,
            "network": self.network,
            "fees_collected_msat": 0,
            "lightning-dir": str(self.lightning_dir / self.network),
        }

    async def _invoice(self, params: dict[str, Any]) -> dict[str, Any]:
        amount = params["amount_msat"]
        amount_msat = None if amount == "any" else parse_msat(amount, "amount_msat")
        label, description = params["label"], params["description"]
        if not isinstance(label, str | int) or not isinstance(description, str):
            raise RpcFault(INVALID_PARAMS, "label and description must be strings")
        expiry = params.get("expiry", DEFAULT_EXPIRY_S)
        if not isinstance(expiry, int) or isinstance(expiry, bool) or expiry < 0:
            raise RpcFault(INVALID_PARAMS, "'expiry' should be an unsigned 64 bit integer")
        row = self.create_invoice(
            amount_msat=amount_msat,
            label=str(label),
            description=description,
            expiry_s=expiry,
            preimage=_preimage(params.get("preimage")),
            deschashonly=params.get("deschashonly", False) is True,
        )
        return {
            "payment_hash": row["payment_hash"],
            "expires_at": row["expires_at"],
            "bolt11": row["bolt11"],
            "payment_secret": row["payment_secret"],
            "created_index": row["created_index"],
        }

    def create_invoice(
        self,
        *,
        amount_msat: int | None,
        label: str,
        description: str,
        expiry_s: int,
        preimage: bytes | None = None,
        deschashonly: bool = False,
        description_hash: str | None = None,
    ) -> dict[str, Any]:
        """Issue and store an invoice (CLN's ``invoice``, and NWC's ``make_invoice``).

        ``description_hash`` (hex) is committed to instead of the description's own hash:
        the invoice then shows no description. Returns the stored row (plus
        ``payment_secret``)."""
        preimage = secrets.token_bytes(32) if preimage is None else preimage
        if self.state.find("invoices", "label", label) is not None:
            raise RpcFault(900, f"Duplicate label '{label}'")
        payment_hash = hashlib.sha256(preimage).hexdigest()
        if self.state.find("invoices", "payment_hash", payment_hash) is not None:
            raise RpcFault(901, "preimage already used")
        hash_only = deschashonly or description_hash is not None
        if hash_only and description_hash is None:
            description_hash = hashlib.sha256(description.encode("utf-8")).hexdigest()
        created_at = self.now()
        issued = issue_invoice(
            node_key=self._key,
            network=self.network,
            amount_msat=amount_msat,
            preimage=preimage,
            payment_secret=secrets.token_bytes(32),
            description=description,
            description_hash_only=hash_only,
            expiry_s=expiry_s,
            created_at=created_at,
            description_hash=description_hash,
        )
        row: dict[str, Any] = {
            "label": label,
            "payment_hash": payment_hash,
            "preimage": preimage.hex(),
            "bolt11": issued.bolt11,
            "description": description,
            "deschashonly": int(hash_only),
            "description_hash": description_hash,
            "amount_msat": amount_msat,
            "status": "unpaid",
            "expires_at": issued.expires_at,
            "created_at": created_at,
        }
        with self.state.transaction():
            row["created_index"] = self.state.next_counter("invoices.created_index")
            self.state.insert("invoices", row)
        return {**row, "payment_secret": issued.payment_secret}

    async def _listinvoices(self, params: dict[str, Any]) -> dict[str, Any]:
        self.expire_due()
        for key, column in (("label", "label"), ("payment_hash", "payment_hash")):
            if key in params:
                row = self.state.find("invoices", column, str(params[key]))
                return {"invoices": [invoice_json(row)] if row else []}
        if "invstring" in params:
            row = self.state.find("invoices", "bolt11", params["invstring"])
            return {"invoices": [invoice_json(row)] if row else []}
        rows = self.state.all("invoices")
        start, limit = params.get("start", 0), params.get("limit", len(rows))
        rows = [r for r in rows if r["created_index"] >= start][:limit]
        return {"invoices": [invoice_json(r) for r in rows]}

    async def _waitanyinvoice(self, params: dict[str, Any]) -> dict[str, Any]:
        after = params.get("lastpay_index", 0)
        timeout = params.get("timeout")
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            row = self.state.first_paid_after(after)
            if row is not None:
                return invoice_json(row)
            paid = self._paid
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                raise RpcFault(904, "Timed out")
            try:
                await asyncio.wait_for(paid.wait(), remaining)
            except TimeoutError:
                raise RpcFault(904, "Timed out") from None

    async def _decode(self, params: dict[str, Any]) -> dict[str, Any]:
        return decode_invoice(str(params["string"]))

    async def _receive(self, params: dict[str, Any]) -> dict[str, Any]:
        """The wallet side: someone pays one of this node's invoices."""
        bolt11 = str(params["invstring"])
        row = self.state.find("invoices", "bolt11", bolt11)
        if row is None:
            raise RpcFault(INVALID_PARAMS, "not an invoice of this node")
        amount = parse_msat(params.get("amount_msat", row["amount_msat"] or 0), "amount_msat")
        return self.receive(row, amount)

    def receive(self, row: dict[str, Any], amount_msat: int) -> dict[str, Any]:
        """Mark an invoice paid with the next pay_index and wake every waitanyinvoice."""
        self.expire_due()
        row = self.state.find("invoices", "payment_hash", row["payment_hash"]) or row
        if row["status"] == "paid":
            raise RpcFault(219, "Already paid")
        if row["status"] == "expired":
            raise RpcFault(207, "Invoice expired")
        if amount_msat <= 0 or amount_msat < (row["amount_msat"] or 0):
            raise RpcFault(INVALID_PARAMS, f"amount {amount_msat}msat is below the invoice's")
        with self.state.transaction():
            pay_index = self.state.next_counter("invoices.pay_index")
            self.state.update(
                "invoices",
                row["payment_hash"],
                status="paid",
                pay_index=pay_index,
                amount_received_msat=amount_msat,
                paid_at=self.now(),
                updated_index=self.state.next_counter("invoices.updated_index"),
            )
        paid, self._paid = self._paid, asyncio.Event()
        paid.set()
        self.settled("incoming", row["payment_hash"])
        return {
            "payment_hash": row["payment_hash"],
            "payment_preimage": row["preimage"],
            "pay_index": pay_index,
            "amount_msat": amount_msat,
        }

    def expire_due(self) -> None:
        """lightningd expires invoices on a timer; reading them first is just as exact."""
        due = self.state.unpaid_expiring_by(self.now())
        if not due:
            return
        with self.state.transaction():
            for payment_hash in due:
                index = self.state.next_counter("invoices.updated_index")
                self.state.update("invoices", payment_hash, status="expired", updated_index=index)


def _preimage(value: Any) -> bytes:
    if value is None:
        return secrets.token_bytes(32)
    try:
        preimage = bytes.fromhex(value) if isinstance(value, str) else b""
    except ValueError:
        preimage = b""
    if len(preimage) != 32:
        raise RpcFault(INVALID_PARAMS, "'preimage' should be 64 hex digits")
    return preimage


def invoice_json(row: dict[str, Any]) -> dict[str, Any]:
    """One invoice as listinvoices and waitanyinvoice show it."""
    out: dict[str, Any] = {
        "label": row["label"],
        "bolt11": row["bolt11"],
        "payment_hash": row["payment_hash"],
        "status": row["status"],
        "expires_at": row["expires_at"],
        "created_index": row["created_index"],
    }
    if row["amount_msat"] is not None:
        out["amount_msat"] = row["amount_msat"]
    if not row["deschashonly"]:
        out["description"] = row["description"]
    if row["updated_index"] is not None:
        out["updated_index"] = row["updated_index"]
    if row["status"] == "paid":
        out["pay_index"] = row["pay_index"]
        out["amount_received_msat"] = row["amount_received_msat"]
        out["paid_at"] = row["paid_at"]
        out["payment_preimage"] = row["preimage"]
    return out
