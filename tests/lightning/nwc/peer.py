"""A small NIP-47 wallet service for the client's tests: the other end of the wire.

It speaks NIP-47 over a real relay with the real codec (``bot.lightning.nwc.protocol``) and
the real primitives, keeps a ledger of real BOLT11 invoices, and has the fault switches the
client must survive: responses dropped, no notifications, notifications sent twice,
NIP-04 only. The zapcharge simnode's wallet service (``zapcharge simnode --nwc``) is the one
the bot's money tests run on; this one stays small so each client behaviour is pinned down.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from typing import Any

import nostr_sdk

from bot.config import NwcUri, RelayConfig
from bot.lightning.nwc.protocol import (
    INFO_KIND,
    NOTIFICATION_KIND_NIP04,
    NOTIFICATION_KIND_NIP44,
    REQUEST_KIND,
    Encryption,
    ErrorCode,
    Notification,
    Response,
    decode_request,
    encode_notification,
    encode_response,
    encryption_of_request,
    info_content,
    info_tags,
)
from bot.nostr.pool import RelayPool
from bot.nostr.primitives import decrypt, encrypt, public_key_hex, sign_event
from bot.ports.bolt11 import decode_invoice
from tests.lnurl.invoices import issue_invoice

ALL_METHODS = ("get_info", "make_invoice", "lookup_invoice", "pay_invoice", "list_transactions")


@dataclass
class Faults:
    drop_responses: int = 0  # answer nothing to the next N requests (but act on them)
    notifications: bool = True
    duplicate_notifications: bool = False
    nip04_only: bool = False
    pay_error: ErrorCode | None = None  # pay_invoice refuses with this code
    methods: tuple[str, ...] = ALL_METHODS


@dataclass
class PeerWallet:
    relay_url: str
    faults: Faults = field(default_factory=Faults)
    network: str = "regtest"

    def __post_init__(self) -> None:
        self.secret = os.urandom(32).hex()
        self.pubkey = public_key_hex(self.secret)
        self.client_secret = os.urandom(32).hex()
        self.client_pubkey = public_key_hex(self.client_secret)
        self.transactions: dict[str, dict[str, Any]] = {}
        self.preimages: dict[str, str] = {}  # invoices others issued that we can pay
        self.requests: list[str] = []  # methods, in the order received
        self._pool: RelayPool | None = None
        self._task: asyncio.Task[None] | None = None
        self._info_at = 0  # created_at of the last info event

    @property
    def uri(self) -> NwcUri:
        return NwcUri(self.pubkey, (self.relay_url,), self.client_secret)

    async def start(self) -> None:
        self._pool = RelayPool([RelayConfig(self.relay_url)])
        await self._pool.start()
        self._runner = asyncio.create_task(self._pool.run())
        await self.publish_info()
        query = (
            nostr_sdk.Filter()
            .kind(nostr_sdk.Kind(REQUEST_KIND))
            .pubkey(nostr_sdk.PublicKey.parse(self.pubkey))
        )
        sub = await self._pool.subscribe([query])
        self._task = asyncio.create_task(self._serve(sub))

    async def stop(self) -> None:
        for task in (self._task, getattr(self, "_runner", None)):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._pool is not None:
            await self._pool.close()
        self._pool = self._task = None

    async def publish_info(self) -> None:
        encryptions = (
            [Encryption.NIP04]
            if self.faults.nip04_only
            else [Encryption.NIP44_V2, Encryption.NIP04]
        )
        notices = ["payment_received"] if self.faults.notifications else []
        methods = [*self.faults.methods, *(["notifications"] if notices else [])]
        tags = info_tags(encryptions, notices)
        if self.faults.nip04_only:
            tags = [t for t in tags if t[0] != "encryption"]  # old wallets: no tag at all
        # A replaceable event: one of the same second would lose to the older one on the
        # relay (NIP-01 keeps the lowest id), so each new info is a second later at least.
        self._info_at = max(int(time.time()), self._info_at + 1)
        info = sign_event(self.secret, INFO_KIND, info_content(methods), tags, self._info_at)
        await self._send(info)

    async def _send(self, event: dict[str, Any]) -> None:
        assert self._pool is not None
        await self._pool.send(nostr_sdk.Event.from_json(json.dumps(event)), [self.relay_url])

    async def _serve(self, sub: Any) -> None:
        while True:
            event = json.loads((await sub.next()).as_json())
            encryption = encryption_of_request(event["tags"]) or Encryption.NIP04
            text = decrypt(encryption, self.secret, event["pubkey"], event["content"])
            request = decode_request(text)
            self.requests.append(request.method)
            response = self._answer(request.method, dict(request.params))
            if self.faults.drop_responses > 0:
                self.faults.drop_responses -= 1
                continue
            content = encrypt(encryption, self.secret, event["pubkey"], encode_response(response))
            tags = [["p", event["pubkey"]], ["e", event["id"]]]
            await self._send(sign_event(self.secret, 23195, content, tags))

    def _answer(self, method: str, params: dict[str, Any]) -> Response:  # noqa: PLR0911 -- one return per method
        if method not in self.faults.methods:
            return Response.failure(method, ErrorCode.NOT_IMPLEMENTED, method)
        if method == "get_info":
            info = {"alias": "peer", "network": self.network, "pubkey": self.pubkey}
            return Response.success(method, info | {"methods": list(self.faults.methods)})
        if method == "make_invoice":
            return Response.success(method, self._make_invoice(params))
        if method == "lookup_invoice":
            found = self.transactions.get(params.get("payment_hash", ""))
            if found is None:
                return Response.failure(method, ErrorCode.NOT_FOUND, "no such invoice")
            return Response.success(method, found)
        if method == "list_transactions":
            items = [
                t
                for t in self.transactions.values()
                if t["type"] == params.get("type", t["type"]) and t["state"] == "settled"
            ]
            offset, limit = int(params.get("offset", 0)), int(params.get("limit", 100))
            return Response.success(method, {"transactions": items[offset : offset + limit]})
        return self._pay(params)

    def _make_invoice(self, params: dict[str, Any]) -> dict[str, Any]:
        bolt11, preimage = issue_invoice(
            int(params["amount"]),
            description_hash=params.get("description_hash"),
            description=params.get("description"),
            created_at=int(time.time()),
            expiry_s=int(params.get("expiry", 3600)),
        )
        decoded = decode_invoice(bolt11)
        transaction = {
            "type": "incoming",
            "state": "pending",
            "invoice": bolt11,
            "payment_hash": decoded.payment_hash,
            "amount": decoded.amount_msat,
            "created_at": decoded.created_at,
            "expires_at": decoded.expires_at,
        }
        self.transactions[decoded.payment_hash] = transaction
        self.preimages[decoded.payment_hash] = preimage
        return transaction

    def _pay(self, params: dict[str, Any]) -> Response:
        if self.faults.pay_error is not None:
            return Response.failure("pay_invoice", self.faults.pay_error, "refused by the test")
        decoded = decode_invoice(params["invoice"])
        preimage = self.preimages[decoded.payment_hash]
        self.transactions[decoded.payment_hash] = {
            "type": "outgoing",
            "state": "settled",
            "invoice": params["invoice"],
            "payment_hash": decoded.payment_hash,
            "preimage": preimage,
            "amount": decoded.amount_msat,
            "fees_paid": 0,
            "created_at": int(time.time()),
            "settled_at": int(time.time()),
        }
        return Response.success("pay_invoice", {"preimage": preimage, "fees_paid": 0})

    def issue_payable(self, amount_msat: int) -> str:
        """An invoice of somebody else's that this wallet can pay (a refund)."""
        bolt11, preimage = issue_invoice(amount_msat, created_at=int(time.time()))
        self.preimages[decode_invoice(bolt11).payment_hash] = preimage
        return bolt11

    async def receive_payment(self, bolt11: str) -> None:
        """Somebody pays our invoice: settle it and notify (as the faults allow)."""
        payment_hash = decode_invoice(bolt11).payment_hash
        transaction = self.transactions[payment_hash]
        transaction |= {
            "state": "settled",
            "preimage": self.preimages[payment_hash],
            "settled_at": int(time.time()),
        }
        if not self.faults.notifications:
            return
        encryption = Encryption.NIP04 if self.faults.nip04_only else Encryption.NIP44_V2
        kind = NOTIFICATION_KIND_NIP04 if self.faults.nip04_only else NOTIFICATION_KIND_NIP44
        body = encode_notification(Notification("payment_received", transaction))
        content = encrypt(encryption, self.secret, self.client_pubkey, body)
        event = sign_event(self.secret, kind, content, [["p", self.client_pubkey]])
        for _ in range(2 if self.faults.duplicate_notifications else 1):
            await self._send(event)


def preimage_of(bolt11: str, wallet: PeerWallet) -> str:
    return wallet.preimages[decode_invoice(bolt11).payment_hash]


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
