"""A zap, done the way a nostr client does it (NIP-57), with every check a careful one makes.

1. Resolve the target: a lightning address directly, or an npub's kind 0 ``lud16``.
2. Fetch the LNURL-pay request; it must allow zaps and name its ``nostrPubkey``.
3. Sign the kind 9734 zap request, call the callback with ``amount`` and ``nostr``.
4. Check the invoice: exactly the amount, and its description hash is sha256 of the exact
   zap request sent (anything else and the receipt could not prove this zap).
5. Optionally pay it (the simulated node, as the driver's wallet).
6. Wait for the kind 9735 receipt on the relays and check it per appendix F: signed by the
   recipient's ``nostrPubkey``, for our invoice, our request, our amount.

The relay side and the payment are passed in (:class:`ZapRelays`, ``pay``), so this file
holds the protocol and no I/O of its own beyond the LNURL client.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from bot.config.keys import ChargerKeys, npub_to_hex
from bot.errors import LnurlError, ZapInvalid
from bot.lnurl.client import LnurlClient
from bot.lnurl.codec import encode_lnurl, lightning_address_url
from bot.lnurl.payer import check_pay_invoice
from bot.nostr.zaps import ZapReceipt, build_zap_request, validate_zap_receipt

__all__ = ["ZapOutcome", "ZapRelays", "resolve_target", "zap"]

log = logging.getLogger(__name__)

RECEIPT_LOOKBACK_S = 60  # receipts are dated when paid; allow for clocks a little apart


class ZapRelays(Protocol):
    """The relays, as a zap needs them."""

    async def lightning_address_of(self, pubkey: str) -> str | None:
        """The ``lud16`` of the newest kind 0 profile of ``pubkey``."""
        ...

    async def wait_for_receipt(
        self,
        recipient_pubkey: str,
        since: int,
        accept: Callable[[str], ZapReceipt | None],
        timeout_s: float,
    ) -> ZapReceipt | None:
        """The first kind 9735 for ``recipient_pubkey`` that ``accept`` takes, or None."""
        ...


@dataclass(frozen=True)
class ZapOutcome:
    target: str
    recipient_pubkey: str
    lnurl: str
    amount_msat: int
    zap_request_id: str
    bolt11: str
    payment_hash: str
    paid: bool  # we paid it (with --pay-with-simnode)
    receipt_id: str | None = None
    receipt_created_at: int | None = None
    receipt_preimage: str | None = None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


async def resolve_target(target: str, relays: ZapRelays) -> tuple[str | None, str]:
    """(the recipient's pubkey if known, the LNURL-pay URL) of an npub or lightning address."""
    if "@" in target:
        return None, lightning_address_url(target)
    try:
        pubkey = npub_to_hex(target)
    except ValueError:
        raise LnurlError(f"not an npub or a lightning address: {target[:64]!r}") from None
    address = await relays.lightning_address_of(pubkey)
    if address is None:
        raise LnurlError("no lightning address (lud16) in that profile on these relays")
    return pubkey, lightning_address_url(address)


async def zap(
    target: str,
    amount_msat: int,
    *,
    driver_keys: ChargerKeys,
    relays: ZapRelays,
    receipt_relays: Sequence[str],
    client: LnurlClient,
    currency: str,
    now: int,
    comment: str = "",
    pay: Callable[[str], Awaitable[object]] | None = None,
    wait_s: float = 60.0,
) -> ZapOutcome:
    """Zap ``target``; raises LnurlError (ZapInvalid) when anything does not check out."""
    pubkey, url = await resolve_target(target, relays)
    offer = await client.pay_request(url)
    zapper = offer.nostr_pubkey
    if zapper is None:
        raise LnurlError("the recipient's LNURL does not accept zaps (no allowsNostr)")
    recipient = pubkey or zapper
    lnurl = encode_lnurl(url)
    request = build_zap_request(
        driver_keys,
        recipient_pubkey=recipient,
        amount_msat=amount_msat,
        relays=receipt_relays,
        comment=comment,
        lnurl=lnurl,
        now=now,
    )
    pr = await client.invoice(offer, amount_msat, nostr=request)
    invoice = check_pay_invoice(
        pr, amount_msat=amount_msat, description=request, currency=currency, now=now
    )
    outcome = ZapOutcome(
        target=target,
        recipient_pubkey=recipient,
        lnurl=lnurl,
        amount_msat=amount_msat,
        zap_request_id=_event_id(request),
        bolt11=pr,
        payment_hash=invoice.payment_hash,
        paid=pay is not None,
    )
    if pay is not None:
        await pay(pr)
    if wait_s <= 0:
        return outcome

    def accept(raw: str) -> ZapReceipt | None:
        try:
            receipt = validate_zap_receipt(
                raw,
                trusted_zapper_pubkeys={zapper},
                expected_recipient=recipient,
                expected_lnurl=lnurl,
                currency=currency,
            )
        except ZapInvalid as exc:
            log.info("ignoring a zap receipt: %s (%s)", exc.reason, exc.code)
            return None
        return receipt if receipt.payment_hash == invoice.payment_hash else None

    found = await relays.wait_for_receipt(recipient, now - RECEIPT_LOOKBACK_S, accept, wait_s)
    if found is None:
        raise LnurlError(f"no valid zap receipt for this invoice within {wait_s:.0f} s")
    if found.request.raw != request:
        raise ZapInvalid("description", "the receipt carries another zap request than ours")
    return ZapOutcome(
        **{
            **outcome.as_json(),
            "receipt_id": found.id,
            "receipt_created_at": found.created_at,
            "receipt_preimage": found.preimage,
        }
    )


def _event_id(event_json: str) -> str:
    return str(json.loads(event_json)["id"])
