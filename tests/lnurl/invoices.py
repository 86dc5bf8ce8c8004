"""Real signed BOLT11 invoices, issued offline with the ``bolt11`` package for tests."""

from __future__ import annotations

import hashlib
import os

from bolt11 import Bolt11, MilliSatoshi, TagChar, Tags, encode

__all__ = ["NODE_KEY", "issue_invoice"]

NODE_KEY = "11" * 32  # the test node's secret key


def issue_invoice(
    amount_msat: int | None,
    *,
    description_hash: str | None = None,
    description: str | None = None,
    currency: str = "bcrt",
    created_at: int = 1_700_000_000,
    expiry_s: int = 3600,
    preimage: bytes | None = None,
    node_key: str = NODE_KEY,
) -> tuple[str, str]:
    """A signed invoice and its preimage (hex)."""
    preimage = preimage if preimage is not None else os.urandom(32)
    tags = Tags()
    tags.add(TagChar.payment_hash, hashlib.sha256(preimage).hexdigest())
    tags.add(TagChar.payment_secret, os.urandom(32).hex())
    if description_hash is not None:
        tags.add(TagChar.description_hash, description_hash)
    else:
        tags.add(TagChar.description, description if description is not None else "test")
    tags.add(TagChar.expire_time, expiry_s)
    tags.add(TagChar.min_final_cltv_expiry, 18)
    invoice = Bolt11(
        currency=currency,
        date=created_at,
        amount_msat=None if amount_msat is None else MilliSatoshi(amount_msat),
        tags=tags,
    )
    return encode(invoice, private_key=node_key), preimage.hex()
