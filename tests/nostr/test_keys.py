from __future__ import annotations

from bot.config.keys import generate_keys
from bot.nostr.keys import sdk_keys


def test_sdk_keys_are_made_from_the_configs_plain_bytes() -> None:
    keys = generate_keys()
    made = sdk_keys(keys)
    assert made.public_key().to_hex() == keys.public_key_hex
    assert made.secret_key().to_hex() == keys.secret.hex()
    assert made.public_key().to_bech32() == keys.npub
    assert sdk_keys(keys) is made  # made once per keypair
