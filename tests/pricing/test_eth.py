from __future__ import annotations

import coincurve
import pytest

from bot.errors import PricingError
from bot.pricing.eth import (
    keccak256,
    personal_message_digest,
    recover_address,
)

# The published web3.js accounts.sign example: key, message, digest and signature.
WEB3_KEY = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
WEB3_ADDRESS = "0x2c7536e3605d9c16a7a3d7b1898e529396a65c23"
WEB3_DIGEST = "1da44b586eb0729ff70a73c326926f6ed5a25f5b056e7f47fbc6e58d86871655"
WEB3_SIGNATURE = (
    "b91467e570a6466aa9e9876cbcd013baba02900b8979d43fe208a4a4f339f5fd"
    "6007e74cd82e037b800186422fc2da167c747ef045e5d18a5f5d4300f8e1a029"
    "1c"
)


def test_keccak256_is_ethereums_not_sha3() -> None:
    assert keccak256(b"").hex() == (
        "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    )


def test_personal_sign_known_answer() -> None:
    digest = personal_message_digest(b"Some data")
    assert digest.hex() == WEB3_DIGEST
    assert recover_address(digest, bytes.fromhex(WEB3_SIGNATURE)) == WEB3_ADDRESS
    key = coincurve.PrivateKey(bytes.fromhex(WEB3_KEY))
    ours = key.sign_recoverable(digest, hasher=None)  # RFC 6979: the same signature
    assert ours[:64].hex() + f"{ours[64] + 27:02x}" == WEB3_SIGNATURE


def test_v_without_27_is_accepted() -> None:
    signature = bytes.fromhex(WEB3_SIGNATURE)
    raw_v = signature[:64] + bytes([signature[64] - 27])
    assert recover_address(bytes.fromhex(WEB3_DIGEST), raw_v) == WEB3_ADDRESS


def test_another_message_recovers_another_address() -> None:
    other = personal_message_digest(b"Some data!")
    assert recover_address(other, bytes.fromhex(WEB3_SIGNATURE)) != WEB3_ADDRESS


@pytest.mark.parametrize(
    ("signature", "words"),
    [
        (bytes(64), "65 bytes"),
        (bytes(64) + b"\x1d", "v must be 27 or 28"),
        (bytes(64) + b"\x1b", "no public key"),
    ],
)
def test_bad_signatures_are_refused(signature: bytes, words: str) -> None:
    with pytest.raises(PricingError, match=words):
        recover_address(bytes.fromhex(WEB3_DIGEST), signature)
