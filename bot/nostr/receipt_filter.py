"""The relay filter for zap receipts addressed to some of our chargers (``bot.receipts``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import nostr_sdk

from bot.nostr.zaps import ZAP_RECEIPT_KIND

__all__ = ["zap_receipt_filter"]


def zap_receipt_filter(pubkeys: Sequence[str], since: int) -> Any:
    """Kind 9735 with ``#p`` = ``pubkeys`` (hex), created at ``since`` or later."""
    return (
        nostr_sdk.Filter()
        .kind(nostr_sdk.Kind(ZAP_RECEIPT_KIND))
        .pubkeys([nostr_sdk.PublicKey.parse(pk) for pk in pubkeys])
        .since(nostr_sdk.Timestamp.from_secs(max(0, since)))
    )
