"""NIP-44 v2 as used by our DMs, checked against the official vectors and an independent
implementation (coincurve ECDH, hashlib/hmac HKDF, a small ChaCha20 written here)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import secrets
import struct

import coincurve
import nostr_sdk
import pytest

from tests.nostr.nip44_data import VECTORS, damaged


def _rotl(value: int, count: int) -> int:
    return ((value << count) & 0xFFFFFFFF) | (value >> (32 - count))


def _quarter(s: list[int], a: int, b: int, c: int, d: int) -> None:
    s[a] = (s[a] + s[b]) & 0xFFFFFFFF
    s[d] = _rotl(s[d] ^ s[a], 16)
    s[c] = (s[c] + s[d]) & 0xFFFFFFFF
    s[b] = _rotl(s[b] ^ s[c], 12)
    s[a] = (s[a] + s[b]) & 0xFFFFFFFF
    s[d] = _rotl(s[d] ^ s[a], 8)
    s[c] = (s[c] + s[d]) & 0xFFFFFFFF
    s[b] = _rotl(s[b] ^ s[c], 7)


def chacha20(key: bytes, nonce: bytes, data: bytes) -> bytes:
    """RFC 8439 ChaCha20 with the block counter starting at 0, as NIP-44 specifies."""
    constants = struct.unpack("<4I", b"expand 32-byte k")
    out = bytearray()
    for block in range(math.ceil(len(data) / 64)):
        state = [*constants, *struct.unpack("<8I", key), block, *struct.unpack("<3I", nonce)]
        working = state[:]
        for _ in range(10):
            for a, b, c, d in ((0, 4, 8, 12), (1, 5, 9, 13), (2, 6, 10, 14), (3, 7, 11, 15)):
                _quarter(working, a, b, c, d)
            for a, b, c, d in ((0, 5, 10, 15), (1, 6, 11, 12), (2, 7, 8, 13), (3, 4, 9, 14)):
                _quarter(working, a, b, c, d)
        stream = struct.pack(
            "<16I", *((w + s) & 0xFFFFFFFF for w, s in zip(working, state, strict=True))
        )
        chunk = data[block * 64 : block * 64 + 64]
        out += bytes(x ^ y for x, y in zip(chunk, stream, strict=False))
    return bytes(out)


def conversation_key(secret_hex: str, pubkey_hex: str) -> bytes:
    point = coincurve.PublicKey(b"\x02" + bytes.fromhex(pubkey_hex)).multiply(
        bytes.fromhex(secret_hex)
    )
    shared_x = point.format(compressed=True)[1:]
    return hmac.new(b"nip44-v2", shared_x, hashlib.sha256).digest()  # HKDF-extract


def message_keys(conv: bytes, nonce: bytes) -> tuple[bytes, bytes, bytes]:
    okm, block = b"", b""
    for counter in range(1, 4):  # HKDF-expand to 76 bytes
        block = hmac.new(conv, block + nonce + bytes([counter]), hashlib.sha256).digest()
        okm += block
    return okm[:32], okm[32:44], okm[44:76]


def padded_len(length: int) -> int:
    if length <= 32:
        return 32
    next_power = 1 << (math.floor(math.log2(length - 1)) + 1)
    chunk = 32 if next_power <= 256 else next_power // 8
    return chunk * ((length - 1) // chunk + 1)


def encrypt(conv: bytes, nonce: bytes, plaintext: str) -> str:
    raw = plaintext.encode()
    padded = struct.pack(">H", len(raw)) + raw + bytes(padded_len(len(raw)) - len(raw))
    key, chacha_nonce, mac_key = message_keys(conv, nonce)
    ciphertext = chacha20(key, chacha_nonce, padded)
    mac = hmac.new(mac_key, nonce + ciphertext, hashlib.sha256).digest()
    return base64.b64encode(b"\x02" + nonce + ciphertext + mac).decode()


def decrypt(conv: bytes, payload: str) -> str:
    data = base64.b64decode(payload)
    if data[0] != 2:
        raise ValueError("unknown version")
    nonce, ciphertext, mac = data[1:33], data[33:-32], data[-32:]
    key, chacha_nonce, mac_key = message_keys(conv, nonce)
    if not hmac.compare_digest(mac, hmac.new(mac_key, nonce + ciphertext, hashlib.sha256).digest()):
        raise ValueError("invalid MAC")
    padded = chacha20(key, chacha_nonce, ciphertext)
    (length,) = struct.unpack(">H", padded[:2])
    if length == 0 or len(padded) != 2 + padded_len(length):
        raise ValueError("invalid padding")
    return padded[2 : 2 + length].decode()


def pubkey_of(secret_hex: str) -> str:
    return str(nostr_sdk.Keys.parse(secret_hex).public_key().to_hex())


@pytest.mark.parametrize("vector", VECTORS["get_conversation_key"], ids=lambda v: v["note"])
def test_conversation_keys(vector: dict[str, str]) -> None:
    assert conversation_key(vector["sec1"], vector["pub2"]).hex() == vector["conversation_key"]


@pytest.mark.parametrize("vector", VECTORS["encrypt_decrypt"], ids=lambda v: v["plaintext"][:6])
def test_vectors_match_an_independent_encryption_and_decrypt_with_the_sdk(
    vector: dict[str, str],
) -> None:
    pub1, pub2 = pubkey_of(vector["sec1"]), pubkey_of(vector["sec2"])
    conv = conversation_key(vector["sec1"], pub2)
    assert conv.hex() == vector["conversation_key"]
    nonce = bytes.fromhex(vector["nonce"])
    assert encrypt(conv, nonce, vector["plaintext"]) == vector["ciphertext"]
    assert decrypt(conv, vector["ciphertext"]) == vector["plaintext"]
    receiver, sender = nostr_sdk.SecretKey.parse(vector["sec2"]), nostr_sdk.PublicKey.parse(pub1)
    assert nostr_sdk.nip44_decrypt(receiver, sender, vector["ciphertext"]) == vector["plaintext"]


@pytest.mark.parametrize("vector", VECTORS["invalid_decrypt"], ids=lambda v: v["note"])
def test_invalid_vectors_are_refused(vector: dict[str, str]) -> None:
    with pytest.raises(ValueError, match=vector["note"]):
        decrypt(bytes.fromhex(vector["conversation_key"]), vector["ciphertext"])


@pytest.mark.parametrize("how", ["version", "mac", "ciphertext", "base64"])
def test_the_sdk_refuses_damaged_payloads(how: str) -> None:
    vector = VECTORS["encrypt_decrypt"][0]
    receiver = nostr_sdk.SecretKey.parse(vector["sec2"])
    sender = nostr_sdk.PublicKey.parse(pubkey_of(vector["sec1"]))
    with pytest.raises(nostr_sdk.NostrSdkError):
        nostr_sdk.nip44_decrypt(receiver, sender, damaged(vector["ciphertext"], how))


@pytest.mark.parametrize("length", [1, 31, 33, 300, 5000])
def test_sdk_and_independent_implementation_read_each_other(length: int) -> None:
    alice, bob = nostr_sdk.Keys.generate(), nostr_sdk.Keys.generate()
    text = ("⚡ " + secrets.token_hex(length))[:length]
    conv = conversation_key(alice.secret_key().to_hex(), bob.public_key().to_hex())
    sdk_payload = nostr_sdk.nip44_encrypt(
        alice.secret_key(), bob.public_key(), text, nostr_sdk.Nip44Version.V2
    )
    assert decrypt(conv, sdk_payload) == text
    ours = encrypt(conv, secrets.token_bytes(32), text)
    assert nostr_sdk.nip44_decrypt(bob.secret_key(), alice.public_key(), ours) == text
