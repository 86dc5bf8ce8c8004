"""Real, signed BOLT11 invoices for the simulated node, and CLN-shaped ``decode`` results.

Built on the ``bolt11`` package (it signs with the node key through coincurve). The
invoices carry a payment secret, a description or only its SHA256 (``deschashonly``, as
NIP-57 zaps need), an expiry and CLN's feature bits, so any wallet or decoder accepts them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import bolt11
from bolt11 import Bolt11, Feature, Features, FeatureState, MilliSatoshi, TagChar, Tags
from coincurve.ecdsa import cdata_to_der, deserialize_recoverable, recoverable_convert

from bot.lightning.simnode.rpc import INVALID_PARAMS, RpcFault

__all__ = [
    "CURRENCIES",
    "MAX_DESCRIPTION_BYTES",
    "IssuedInvoice",
    "decode_invoice",
    "issue_invoice",
]

CURRENCIES = {
    "bitcoin": "bc",
    "testnet": "tb",
    "testnet4": "tb",
    "signet": "tbs",
    "regtest": "bcrt",
}
# A tagged field holds at most 1023 five-bit groups: 639 whole bytes of description.
MAX_DESCRIPTION_BYTES = 639
MIN_FINAL_CLTV_EXPIRY = 5  # what lightningd puts in regtest invoices
_FEATURES = Features.from_feature_list(
    {
        Feature.var_onion_optin: FeatureState.required,
        Feature.payment_secret: FeatureState.required,
        Feature.basic_mpp: FeatureState.supported,
    }
)


@dataclass(frozen=True)
class IssuedInvoice:
    bolt11: str
    payment_hash: str
    payment_secret: str
    created_at: int
    expires_at: int


def issue_invoice(
    *,
    node_key: str,
    network: str,
    amount_msat: int | None,
    preimage: bytes,
    payment_secret: bytes,
    description: str,
    description_hash_only: bool,
    expiry_s: int,
    created_at: int,
    description_hash: str | None = None,
) -> IssuedInvoice:
    """Sign a BOLT11 invoice with ``node_key`` (hex secret key).

    ``description_hash`` (hex): commit to this hash rather than to ``description``'s; NWC's
    make_invoice may send only the hash of a description the node never sees.
    """
    payment_hash = hashlib.sha256(preimage).hexdigest()
    tags = Tags()
    tags.add(TagChar.payment_hash, payment_hash)
    tags.add(TagChar.payment_secret, payment_secret.hex())
    encoded_description = description.encode("utf-8")
    if description_hash is not None:
        tags.add(TagChar.description_hash, description_hash)
    elif description_hash_only:
        tags.add(TagChar.description_hash, hashlib.sha256(encoded_description).hexdigest())
    elif len(encoded_description) > MAX_DESCRIPTION_BYTES:
        raise RpcFault(
            INVALID_PARAMS,
            f"Descriptions greater than {MAX_DESCRIPTION_BYTES} bytes are not supported",
        )
    else:
        tags.add(TagChar.description, description)
    tags.add(TagChar.expire_time, expiry_s)
    tags.add(TagChar.min_final_cltv_expiry, MIN_FINAL_CLTV_EXPIRY)
    tags.add(TagChar.features, _FEATURES)
    invoice = Bolt11(
        currency=CURRENCIES[network],
        date=created_at,
        tags=tags,
        amount_msat=MilliSatoshi(amount_msat) if amount_msat else None,
    )
    text = bolt11.encode(invoice, node_key)
    return IssuedInvoice(
        bolt11=text,
        payment_hash=payment_hash,
        payment_secret=payment_secret.hex(),
        created_at=created_at,
        expires_at=created_at + expiry_s,
    )


def decode_invoice(text: str) -> dict[str, Any]:
    """The result of CLN's ``decode`` for a BOLT11 string; RpcFault when it is not one."""
    lowered = text.strip()
    if lowered.lower().startswith("lightning:"):
        lowered = lowered[len("lightning:") :]
    try:
        invoice = bolt11.decode(lowered)
        payee = invoice.payee or invoice.signature.recover_public_key()  # type: ignore[union-attr]
    except Exception as exc:  # the library raises many unrelated types on bad input
        raise RpcFault(INVALID_PARAMS, f"Invalid bolt11: {exc.__class__.__name__}") from None
    result: dict[str, Any] = {
        "type": "bolt11 invoice",
        "valid": True,
        "currency": invoice.currency,
        "created_at": invoice.date,
        "expiry": invoice.expiry,
        "payee": payee,
        "payment_hash": invoice.payment_hash,
        "signature": _der_signature(invoice),
        "min_final_cltv_expiry": invoice.min_final_cltv_expiry,
    }
    if invoice.amount_msat:
        result["amount_msat"] = int(invoice.amount_msat)
    for key, value in (
        ("description", invoice.description),
        ("description_hash", invoice.description_hash),
        ("payment_secret", invoice.payment_secret),
        ("payment_metadata", invoice.metadata),
    ):
        if value is not None:
            result[key] = value
    if invoice.features is not None:
        result["features"] = _feature_hex(invoice.features)
    if invoice.route_hints:
        result["routes"] = [
            [
                {
                    "pubkey": hop.public_key,
                    "short_channel_id": hop.short_channel_id,
                    "fee_base_msat": hop.base_fee,
                    "fee_proportional_millionths": hop.ppm_fee,
                    "cltv_expiry_delta": hop.cltv_expiry_delta,
                }
                for hop in hint.routes
            ]
            for hint in invoice.route_hints
        ]
    return result


def _der_signature(invoice: Bolt11) -> str:
    """CLN shows the signature DER-encoded; BOLT11 carries it compact and recoverable."""
    assert invoice.signature is not None
    compact = recoverable_convert(deserialize_recoverable(invoice.signature.signature_data))
    return bytes(cdata_to_der(compact)).hex()


def _feature_hex(features: Features) -> str:
    bits = features.data.bin.lstrip("0") or "0"
    value = int(bits, 2)
    width = max(1, (value.bit_length() + 7) // 8)
    return value.to_bytes(width, "big").hex()
