"""The NWC seam: keys, NIP-01 events and NIP-44/NIP-04 across two keys, as plain data.

Cross-checked against nostr-sdk (an independent implementation of the same NIPs) and the
official NIP-44 vectors (tests/nostr/data/nip44_vectors.json).
"""

from __future__ import annotations

import json
from typing import Any

import nostr_sdk
import pytest

from bot.errors import NwcProtocolError
from bot.lightning.nwc.protocol import Encryption
from bot.nostr.primitives import (
    decrypt,
    encrypt,
    generate_secret_hex,
    public_key_hex,
    sign_event,
    verify_event,
)
from tests.nostr.nip44_data import VECTORS, damaged

# BIP-340's test vector 1 (secret key 3): its x-only public key.
SECRET_3 = "00" * 31 + "03"
PUBLIC_3 = "f9308a019258c31049344f85f89d5229b531c845836f99b08601f113bce036f9"


def test_public_key_of_a_known_secret() -> None:
    assert public_key_hex(SECRET_3) == PUBLIC_3


def test_public_key_agrees_with_the_sdk() -> None:
    secret = generate_secret_hex()
    assert public_key_hex(secret) == nostr_sdk.Keys.parse(secret).public_key().to_hex()


@pytest.mark.parametrize("secret", ["", "zz" * 32, "00" * 32, "ab" * 31, "ff" * 32])
def test_a_bad_secret_is_refused(secret: str) -> None:
    with pytest.raises(NwcProtocolError):
        public_key_hex(secret)


def test_a_signed_event_is_nip01_and_the_sdk_accepts_it() -> None:
    secret = generate_secret_hex()
    event = sign_event(
        secret, 23194, "cipher", [["p", PUBLIC_3], ["encryption", "nip44_v2"]], 1_700_000_000
    )
    assert set(event) == {"id", "pubkey", "created_at", "kind", "tags", "content", "sig"}
    assert event["pubkey"] == public_key_hex(secret)
    assert event["created_at"] == 1_700_000_000
    assert event["tags"] == [["p", PUBLIC_3], ["encryption", "nip44_v2"]]
    parsed = nostr_sdk.Event.from_json(json.dumps(event))
    assert parsed.verify()
    assert parsed.id().to_hex() == event["id"]
    assert verify_event(event)


def test_created_at_defaults_to_now() -> None:
    import time

    before = int(time.time())
    event = sign_event(generate_secret_hex(), 1, "x", [])
    assert before <= event["created_at"] <= int(time.time())


def test_an_event_signed_by_the_sdk_verifies() -> None:
    keys = nostr_sdk.Keys.generate()
    built = nostr_sdk.EventBuilder(nostr_sdk.Kind(13194), "make_invoice pay_invoice").tags(
        [nostr_sdk.Tag.parse(["encryption", "nip44_v2 nip04"])]
    )
    event = json.loads(built.finalize(keys).as_json())
    assert verify_event(event)


def test_an_event_with_a_control_character_goes_through_the_sdk_and_verifies() -> None:
    event = sign_event(generate_secret_hex(), 1, "bell\x07 here", [["t", "x\x1f"]], 1_700_000_000)
    assert nostr_sdk.Event.from_json(json.dumps(event)).verify()
    assert verify_event(event)
    assert not verify_event({**event, "content": "bell\x07 there"})


@pytest.mark.parametrize(
    "change",
    [
        {"content": "other"},
        {"kind": 23195},
        {"created_at": 1_700_000_001},
        {"tags": [["p", PUBLIC_3]]},
        {"pubkey": PUBLIC_3},
        {"sig": "00" * 64},
        {"sig": "ab"},
        {"sig": "not hex"},
        {"id": "00" * 32},
        {"pubkey": "zz"},
        {"kind": "23194"},
        {"created_at": True},
        {"tags": [["p", 5]]},
        {"tags": "p"},
    ],
    ids=lambda change: ",".join(f"{k}={v!r}"[:40] for k, v in change.items()),
)
def test_a_changed_or_malformed_event_does_not_verify(change: dict[str, Any]) -> None:
    event = sign_event(generate_secret_hex(), 23194, "cipher", [["p", "ab" * 32]], 1_700_000_000)
    assert verify_event(event)
    assert not verify_event({**event, **change})


def test_an_event_without_a_field_does_not_verify() -> None:
    event = sign_event(generate_secret_hex(), 1, "x", [], 1_700_000_000)
    del event["sig"]
    assert not verify_event(event)


@pytest.mark.parametrize("encryption", list(Encryption))
@pytest.mark.parametrize("text", ["a", '{"method": "get_info", "params": {}}', "⚡" * 3000])
def test_encryption_crosses_between_the_two_keys(encryption: Encryption, text: str) -> None:
    client, wallet = generate_secret_hex(), generate_secret_hex()
    sealed = encrypt(encryption, client, public_key_hex(wallet), text)
    assert sealed != text
    assert decrypt(encryption, wallet, public_key_hex(client), sealed) == text
    assert decrypt(encryption, client, public_key_hex(wallet), sealed) == text  # same shared key


@pytest.mark.parametrize("encryption", list(Encryption))
def test_what_we_encrypt_the_sdk_decrypts(encryption: Encryption) -> None:
    client, wallet = generate_secret_hex(), nostr_sdk.Keys.generate()
    sealed = encrypt(encryption, client, wallet.public_key().to_hex(), "pay_invoice")
    sender = nostr_sdk.PublicKey.parse(public_key_hex(client))
    if encryption is Encryption.NIP44_V2:
        assert nostr_sdk.nip44_decrypt(wallet.secret_key(), sender, sealed) == "pay_invoice"
    else:
        assert nostr_sdk.nip04_decrypt(wallet.secret_key(), sender, sealed) == "pay_invoice"


def test_nip04_from_the_sdk_is_read() -> None:
    alice, bob = nostr_sdk.Keys.generate(), generate_secret_hex()
    bob_public = nostr_sdk.PublicKey.parse(public_key_hex(bob))
    sealed = nostr_sdk.nip04_encrypt(alice.secret_key(), bob_public, "hello")
    assert "?iv=" in sealed
    assert decrypt(Encryption.NIP04, bob, alice.public_key().to_hex(), sealed) == "hello"


@pytest.mark.parametrize("vector", VECTORS["encrypt_decrypt"], ids=lambda v: v["plaintext"][:6])
def test_the_nip44_vectors_decrypt(vector: dict[str, str]) -> None:
    sender = public_key_hex(vector["sec1"])
    assert (
        decrypt(Encryption.NIP44_V2, vector["sec2"], sender, vector["ciphertext"])
        == (vector["plaintext"])
    )


def test_a_nip44_vector_with_the_wrong_key_is_refused() -> None:
    vector = VECTORS["encrypt_decrypt"][0]
    stranger = public_key_hex(generate_secret_hex())
    with pytest.raises(NwcProtocolError):
        decrypt(Encryption.NIP44_V2, vector["sec2"], stranger, vector["ciphertext"])


@pytest.mark.parametrize("how", ["version", "mac", "ciphertext", "base64"])
def test_a_damaged_nip44_payload_is_refused(how: str) -> None:
    vector = VECTORS["encrypt_decrypt"][0]
    sender = public_key_hex(vector["sec1"])
    with pytest.raises(NwcProtocolError):
        decrypt(Encryption.NIP44_V2, vector["sec2"], sender, damaged(vector["ciphertext"], how))


@pytest.mark.parametrize("payload", ["", "plain text", "abc?iv=", "Zm9v?iv=AAAA"])
def test_a_damaged_nip04_payload_is_refused(payload: str) -> None:
    with pytest.raises(NwcProtocolError):
        decrypt(Encryption.NIP04, generate_secret_hex(), PUBLIC_3, payload)


def test_a_nip44_payload_read_as_nip04_is_refused() -> None:
    client, wallet = generate_secret_hex(), generate_secret_hex()
    sealed = encrypt(Encryption.NIP44_V2, client, public_key_hex(wallet), "x")
    with pytest.raises(NwcProtocolError):
        decrypt(Encryption.NIP04, wallet, public_key_hex(client), sealed)


def test_a_bad_peer_key_is_refused() -> None:
    with pytest.raises(NwcProtocolError):
        encrypt(Encryption.NIP44_V2, generate_secret_hex(), "nope", "x")
