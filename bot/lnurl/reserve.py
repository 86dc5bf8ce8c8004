"""Paying for a reservation over LNURL: a zap with the comment ``reserve``, or a plain
LNURL-pay of ``/.well-known/lnurlp/<charger>[.<connector>]?reserve=1``.

The fee is exact: the offer's minimum and maximum are both ``reservation_fee_msat``, so a
wallet cannot overpay. As with a charge, everything is refused *before* the invoice when
the reservation could not be made now (reservations off for this charger, charger offline,
connector not Available, already reserved, or the driver already holds one here): money
refused up front needs no refund. What happens once the fee is paid is the reservation
service's (``bot.reservations``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from bot.config import ChargerConfig
from bot.errors import LnurlError
from bot.lnurl.admission import ConnectorView
from bot.lnurl.protocol import PayOffer, Urls, pay_metadata, pay_name

__all__ = ["RESERVE_WORD", "admit_reservation", "reservation_offer", "wants_reservation"]

RESERVE_WORD = "reserve"


def wants_reservation(params: Mapping[str, str]) -> bool:
    """``reserve=1`` in the query, or a LUD-12 comment or zap request content ``reserve``.

    The zap request is only peeked at here (its checks come with the offer's): which offer
    applies decides the amount bounds it is checked against."""
    if params.get("reserve") == "1" or _is_word(params.get("comment")):
        return True
    raw = params.get("nostr")
    if raw is None:
        return False
    try:
        content = json.loads(raw).get("content")
    except (ValueError, AttributeError):
        return False  # not JSON: the normal checks refuse it with the right reason
    return _is_word(content)


def _is_word(text: object) -> bool:
    return isinstance(text, str) and text.strip().lower() == RESERVE_WORD


def reservation_offer(
    charger: ChargerConfig,
    urls: Urls,
    domain: str,
    *,
    connector_id: int | None,
    image_png_base64: str | None = None,
) -> PayOffer:
    """The pay request for a reservation of the charger (or of one connector)."""
    tariff = charger.tariff
    if tariff.reservation_fee_msat is None or tariff.reservation_minutes is None:
        raise LnurlError("this charger takes no reservations")
    name = pay_name(charger.id, connector_id)
    where = charger.name if connector_id is None else f"{charger.name}, connector {connector_id}"
    fee_sats = tariff.reservation_fee_msat / 1000
    text = f"Reserve {where} for {tariff.reservation_minutes:g} min · {fee_sats:g} sat"
    metadata = pay_metadata(
        text,
        identifier=f"{name}@{domain}",
        long_description="The fee counts toward your charge; unused time of a cancelled "
        "reservation is refunded.",
        image_png_base64=image_png_base64,
    )
    return PayOffer(
        callback=urls.pay_callback(name) + "?reserve=1",
        min_sendable_msat=tariff.reservation_fee_msat,
        max_sendable_msat=tariff.reservation_fee_msat,
        metadata=metadata,
        comment_allowed=0,
        nostr_pubkey=charger.keys.public_key_hex,
    )


def admit_reservation(
    *,
    online: bool,
    connectors: Sequence[ConnectorView],
    wanted: int | None,
    payer_pubkey: str | None,
) -> int:
    """The connector to reserve, or LnurlError with the reason the wallet shows."""
    if not online:
        raise LnurlError("the charger is offline; try again when it is back")
    candidates = [c for c in connectors if wanted is None or c.id == wanted]
    if not candidates:
        raise LnurlError(f"this charger has no connector {wanted}")
    if payer_pubkey is not None and any(
        c.reserved_for is not None and c.reserved_for.payer_pubkey == payer_pubkey
        for c in connectors
    ):
        raise LnurlError("you already have a reservation here")
    refusals = []
    for connector in candidates:
        if connector.held_by is not None:
            refusals.append(f"connector {connector.id} is in use")
        elif connector.reserved_for is not None:
            refusals.append(f"connector {connector.id} is reserved")
        elif connector.status != "Available":
            refusals.append(f"connector {connector.id} is {connector.status or 'not reported'}")
        else:
            return connector.id
    raise LnurlError("cannot reserve: " + "; ".join(refusals))
