"""Payments the simulated node makes (``xpay``, ``pay``, ``listpays``), and how tests steer them.

Every payment is recorded in the state file, so a test can read what was paid to whom
(:func:`~bot.lightning.simnode.state.read_payments`). A payment to one of the node's own
invoices settles that invoice for real. Any other invoice is "paid" with a simulated
preimage: the node cannot know the recipient's secret, and says so (``preimage_known``).

Tests steer the next payments with ``dev-simnode-next-pay``:

- ``{"outcome": "fail", "code": 205}``: the payment fails definitely; listpays says failed.
- ``{"outcome": "pending"}``: the payment stays in flight and the node hangs up without an
  answer, as a lightningd that crashed mid-payment would. listpays says pending until
  ``dev-simnode-resolve-pay {"payment_hash": ..., "outcome": "complete" | "failed"}``.

Each rule applies to one payment (``count`` repeats it); then payments succeed again.
"""

from __future__ import annotations

import hashlib
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.lightning.simnode.invoices import CURRENCIES, decode_invoice
from bot.lightning.simnode.rpc import INVALID_PARAMS, RpcFault, parse_msat
from bot.lightning.simnode.state import SimState

if TYPE_CHECKING:
    from bot.lightning.simnode.node import Handler, SimNode

__all__ = ["DropConnection", "Outgoing", "PayRule"]

PAY_IN_PROGRESS = 200
FEE_BASE_MSAT = 1
FEE_PPM = 10  # lightningd's regtest channel defaults


class DropConnection(Exception):
    """Close the client's connection without a reply."""


@dataclass(frozen=True)
class PayRule:
    outcome: str  # fail | pending
    code: int


class Outgoing:
    def __init__(self, node: SimNode, state: SimState) -> None:
        self.node, self.state = node, state
        self.rules: deque[PayRule] = deque()

    def methods(self) -> dict[str, tuple[Handler, tuple[str, ...], tuple[str, ...]]]:
        xpay_names = (
            "invstring",
            "amount_msat",
            "maxfee",
            "layers",
            "retry_for",
            "partial_msat",
            "maxdelay",
            "payer_note",
            "label",
            "localinvreqid",
            "dev_use_shadow",
        )
        pay_names = (
            "bolt11",
            "amount_msat",
            "label",
            "riskfactor",
            "maxfeepercent",
            "retry_for",
            "maxdelay",
            "exemptfee",
            "localinvreqid",
            "exclude",
            "maxfee",
            "description",
            "partial_msat",
        )
        return {
            "xpay": (self._xpay, xpay_names, ("invstring",)),
            "pay": (self._pay, pay_names, ("bolt11",)),
            "listpays": (
                self._listpays,
                ("bolt11", "payment_hash", "status", "index", "start", "limit"),
                (),
            ),
            "dev-simnode-next-pay": (self._next_pay, ("outcome", "code", "count"), ("outcome",)),
            "dev-simnode-resolve-pay": (
                self._resolve,
                ("payment_hash", "outcome"),
                ("payment_hash", "outcome"),
            ),
        }

    async def _xpay(self, params: dict[str, Any]) -> dict[str, Any]:
        row = self._send("xpay", params["invstring"], params)
        return {
            "payment_preimage": row["preimage"],
            "failed_parts": 0,
            "successful_parts": 1,
            "amount_msat": row["amount_msat"],
            "amount_sent_msat": row["amount_sent_msat"],
        }

    async def _pay(self, params: dict[str, Any]) -> dict[str, Any]:
        row = self._send("pay", params["bolt11"], params)
        return {
            "payment_preimage": row["preimage"],
            "destination": row["destination"],
            "payment_hash": row["payment_hash"],
            "created_at": float(row["created_at"]),
            "parts": 1,
            "amount_msat": row["amount_msat"],
            "amount_sent_msat": row["amount_sent_msat"],
            "status": "complete",
        }

    def _send(self, method: str, bolt11: Any, params: dict[str, Any]) -> dict[str, Any]:
        decoded = decode_invoice(str(bolt11))
        if decoded["currency"] != CURRENCIES[self.node.network]:
            raise RpcFault(INVALID_PARAMS, "Invoice is for another network")
        now = self.node.now()
        expiry = decoded["created_at"] + decoded["expiry"]
        if now >= expiry:
            raise RpcFault(207, "Invoice expired", {"now": now, "expiry": expiry})
        amount = _amount(decoded, params)
        payment_hash = decoded["payment_hash"]
        earlier = self.state.find("payments", "payment_hash", payment_hash)
        if earlier is not None and earlier["status"] == "complete":
            if method == "pay":
                return earlier  # lightningd: repeating a completed pay is a no-op
            raise RpcFault(219, "Already paid")
        if earlier is not None and earlier["status"] == "pending":
            raise RpcFault(PAY_IN_PROGRESS, "Payment already in progress")
        own = decoded["payee"] == self.node.node_id
        fee = 0 if own else FEE_BASE_MSAT + amount * FEE_PPM // 1_000_000
        if fee > _max_fee(method, amount, params):
            code = 205 if method == "xpay" else 206
            raise RpcFault(code, f"Route too expensive: fee {fee}msat is over the limit")
        row = {
            "payment_hash": payment_hash,
            "bolt11": str(bolt11),
            "destination": decoded["payee"],
            "amount_msat": amount,
            "amount_sent_msat": amount + fee,
            "status": "pending",
            "label": params.get("label"),
            "method": method,
            "created_at": now,
        }
        self._record(row, replace=earlier is not None)
        rule = self.rules.popleft() if self.rules else None
        if rule is not None and rule.outcome == "pending":
            raise DropConnection
        if rule is not None:
            return self._fail(payment_hash, rule.code, "simulated failure (dev-simnode-next-pay)")
        if own:
            return self._pay_self(payment_hash, amount)
        preimage = hashlib.sha256(bytes.fromhex(self.node.node_key + payment_hash)).hexdigest()
        return self._complete(payment_hash, preimage, known=False)

    def _pay_self(self, payment_hash: str, amount: int) -> dict[str, Any]:
        invoice = self.state.find("invoices", "payment_hash", payment_hash)
        if invoice is None:
            return self._fail(payment_hash, 203, "Destination does not know this invoice")
        try:
            received = self.node.receive(invoice, amount)
        except RpcFault as fault:
            return self._fail(payment_hash, 203, fault.message)
        return self._complete(payment_hash, received["payment_preimage"], known=True)

    def _record(self, row: dict[str, Any], *, replace: bool) -> None:
        with self.state.transaction():
            if replace:  # a new attempt after a failed one, as lightningd allows
                fields = {k: v for k, v in row.items() if k != "payment_hash"}
                fields |= {"failure_code": None, "failure_message": None, "completed_at": None}
                self.state.update("payments", row["payment_hash"], **fields)
            else:
                row["created_index"] = self.state.next_counter("payments.created_index")
                self.state.insert("payments", row)

    def _complete(self, payment_hash: str, preimage: str, *, known: bool) -> dict[str, Any]:
        self._set(
            payment_hash,
            status="complete",
            preimage=preimage,
            preimage_known=int(known),
            completed_at=self.node.now(),
        )
        row = self.state.find("payments", "payment_hash", payment_hash)
        assert row is not None
        self.node.settled("outgoing", payment_hash)
        return row

    def _fail(self, payment_hash: str, code: int, message: str) -> dict[str, Any]:
        self._set(payment_hash, status="failed", failure_code=code, failure_message=message)
        raise RpcFault(code, message)

    def _set(self, payment_hash: str, **fields: Any) -> None:
        with self.state.transaction():
            index = self.state.next_counter("payments.updated_index")
            self.state.update("payments", payment_hash, updated_index=index, **fields)

    async def _listpays(self, params: dict[str, Any]) -> dict[str, Any]:
        if "bolt11" in params:
            rows = [self.state.find("payments", "bolt11", params["bolt11"])]
        elif "payment_hash" in params:
            rows = [self.state.find("payments", "payment_hash", params["payment_hash"])]
        else:
            rows = list(self.state.all("payments"))
        found = [r for r in rows if r is not None]
        if "status" in params:
            found = [r for r in found if r["status"] == params["status"]]
        return {"pays": [pay_json(r) for r in found]}

    async def _next_pay(self, params: dict[str, Any]) -> dict[str, Any]:
        outcome = params["outcome"]
        if outcome not in ("fail", "pending"):
            raise RpcFault(INVALID_PARAMS, "outcome must be 'fail' or 'pending'")
        code = params.get("code", 205)
        for _ in range(int(params.get("count", 1))):
            self.rules.append(PayRule(outcome, int(code)))
        return {"queued": len(self.rules)}

    async def _resolve(self, params: dict[str, Any]) -> dict[str, Any]:
        payment_hash, outcome = str(params["payment_hash"]), params["outcome"]
        row = self.state.find("payments", "payment_hash", payment_hash)
        if row is None or row["status"] != "pending":
            raise RpcFault(INVALID_PARAMS, "no pending payment with that hash")
        if outcome == "complete":
            preimage = hashlib.sha256(payment_hash.encode()).hexdigest()
            self._complete(payment_hash, preimage, known=False)
        elif outcome == "failed":
            self._set(payment_hash, status="failed", failure_code=204, failure_message="resolved")
        else:
            raise RpcFault(INVALID_PARAMS, "outcome must be 'complete' or 'failed'")
        found = self.state.find("payments", "payment_hash", payment_hash)
        assert found is not None
        return pay_json(found)


def _amount(decoded: dict[str, Any], params: dict[str, Any]) -> int:
    if "amount_msat" in decoded:
        if "amount_msat" in params:
            raise RpcFault(INVALID_PARAMS, "amount_msat parameter unnecessary")
        return int(decoded["amount_msat"])
    if "amount_msat" not in params:
        raise RpcFault(INVALID_PARAMS, "amount_msat parameter required")
    return parse_msat(params["amount_msat"], "amount_msat")


def _max_fee(method: str, amount: int, params: dict[str, Any]) -> int:
    if "maxfee" in params:
        return parse_msat(params["maxfee"], "maxfee")
    if method == "xpay":
        return max(5000, amount // 100)
    percent = float(params.get("maxfeepercent", 0.5))
    exempt = parse_msat(params.get("exemptfee", 5000), "exemptfee")
    return max(exempt, int(amount * percent / 100))


def pay_json(row: dict[str, Any]) -> dict[str, Any]:
    """One payment as listpays shows it (fields differ by status, as in CLN's schema)."""
    out: dict[str, Any] = {
        "created_index": row["created_index"],
        "payment_hash": row["payment_hash"],
        "status": row["status"],
        "destination": row["destination"],
        "created_at": row["created_at"],
        "bolt11": row["bolt11"],
        "amount_sent_msat": row["amount_sent_msat"],
    }
    if row["updated_index"] is not None:
        out["updated_index"] = row["updated_index"]
    if row["label"] is not None:
        out["label"] = row["label"]
    if row["status"] != "failed":
        out["amount_msat"] = row["amount_msat"]
    if row["status"] == "complete":
        out["completed_at"] = row["completed_at"]
        out["preimage"] = row["preimage"]
        out["number_of_parts"] = 1
    return out
