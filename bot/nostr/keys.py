"""The nostr SDK's view of a charger's keys, made here from the config's plain bytes.

``bot.config.keys`` reads and holds keys without the SDK; everything in ``bot.nostr``
that signs or decrypts asks :func:`sdk_keys` for the ``nostr_sdk.Keys`` of a keypair.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import nostr_sdk

from bot.config.keys import ChargerKeys

__all__ = ["sdk_keys", "write_key_file"]


@functools.cache
def sdk_keys(keys: ChargerKeys) -> Any:
    """The ``nostr_sdk.Keys`` of ``keys``; made once per keypair (chargers sign often)."""
    return nostr_sdk.Keys(nostr_sdk.SecretKey.from_bytes(keys.secret))


def write_key_file(path: Path, keys: ChargerKeys, passphrase: str | None = None) -> None:
    """Write the secret key with mode 0600 from the first byte on; refuse to overwrite.

    With a passphrase the key is NIP-49 encrypted by the SDK (scrypt log_n 16)."""
    if passphrase:
        secret = str(sdk_keys(keys).secret_key().encrypt(passphrase).to_bech32())
    else:
        secret = keys.nsec()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(secret + "\n")
