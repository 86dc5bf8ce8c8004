"""Ethereum-style signatures, for signed green power forecasts. The one seam to the libraries.

keccak256 comes from pycryptodomex (``Cryptodome.Hash.keccak``: the original Keccak padding
that Ethereum uses, not NIST SHA3-256); public key recovery from coincurve (libsecp256k1).

A signature is 65 bytes ``r || s || v`` with ``v`` 27 or 28 (0 or 1 also accepted: some
signers omit the 27). An address is the last 20 bytes of keccak256 of the uncompressed
public key without its 0x04 prefix.
"""

from __future__ import annotations

import coincurve
from Cryptodome.Hash import keccak

from bot.errors import PricingError

__all__ = [
    "keccak256",
    "personal_message_digest",
    "recover_address",
]


def keccak256(data: bytes) -> bytes:
    return keccak.new(digest_bits=256, data=data).digest()


def personal_message_digest(message: bytes) -> bytes:
    """EIP-191 version 0x45 (``personal_sign``, ethers ``signMessage``) digest of ``message``."""
    return keccak256(b"\x19Ethereum Signed Message:\n" + str(len(message)).encode() + message)


def recover_address(digest: bytes, signature: bytes) -> str:
    """The lower-case ``0x`` address whose key made ``signature`` over the 32-byte ``digest``."""
    if len(digest) != 32:
        raise PricingError(f"a digest is 32 bytes, got {len(digest)}")
    if len(signature) != 65:
        raise PricingError(f"a signature is 65 bytes (r, s, v), got {len(signature)}")
    v = signature[64]
    recovery_id = v - 27 if v >= 27 else v
    if recovery_id not in (0, 1):
        raise PricingError(f"signature v must be 27 or 28, got {v}")
    try:
        key = coincurve.PublicKey.from_signature_and_message(
            signature[:64] + bytes([recovery_id]), digest, hasher=None
        )
    except (ValueError, TypeError) as exc:
        raise PricingError(f"no public key recovers from the signature: {exc}") from None
    return "0x" + keccak256(key.format(compressed=False)[1:])[-20:].hex()
