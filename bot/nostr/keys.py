"""Charger secret keys: generate, write (0600, optionally NIP-49), load, and hide.

A key file holds one line: ``nsec1...`` or a NIP-49 ``ncryptsec1...``. Loading refuses a
file that group or others may read, the way ssh refuses a private key with loose modes.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import nostr_sdk

from bot.errors import ConfigError

__all__ = [
    "ChargerKeys",
    "generate_keys",
    "load_key_file",
    "npub_to_hex",
    "write_key_file",
]


class ChargerKeys:
    """A charger's keypair. Its repr shows only the public key, so logs cannot leak it."""

    __slots__ = ("_keys",)

    def __init__(self, keys: Any) -> None:
        self._keys = keys

    @property
    def sdk_keys(self) -> Any:
        """The ``nostr_sdk.Keys``; for use inside ``bot.nostr`` only."""
        return self._keys

    @property
    def public_key_hex(self) -> str:
        return str(self._keys.public_key().to_hex())

    @property
    def npub(self) -> str:
        return str(self._keys.public_key().to_bech32())

    def nsec(self) -> str:
        """The secret key in bech32; only for writing the key file."""
        return str(self._keys.secret_key().to_bech32())

    def __repr__(self) -> str:
        return f"ChargerKeys({self.npub})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ChargerKeys) and other.public_key_hex == self.public_key_hex

    def __hash__(self) -> int:
        return hash(self.public_key_hex)


def generate_keys() -> ChargerKeys:
    return ChargerKeys(nostr_sdk.Keys.generate())


def npub_to_hex(text: str) -> str:
    """Accept an ``npub1...`` or 64 hex characters; raise ValueError otherwise."""
    try:
        return str(nostr_sdk.PublicKey.parse(text.strip()).to_hex())
    except Exception as exc:  # the SDK raises its own NostrSdkError subclasses
        raise ValueError(f"not a public key: {text[:16]}...") from exc


def write_key_file(path: Path, keys: ChargerKeys, passphrase: str | None = None) -> None:
    """Write the secret key with mode 0600 from the first byte on; refuse to overwrite."""
    if passphrase:
        secret = str(keys.sdk_keys.secret_key().encrypt(passphrase).to_bech32())
    else:
        secret = keys.nsec()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(secret + "\n")


def load_key_file(path: Path, passphrase: str | None, *, key: str = "key file") -> ChargerKeys:
    """Read and decode a key file. Errors name the file, never its contents."""
    file = str(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise ConfigError(file, key, "key file does not exist") from None
    except OSError as exc:
        raise ConfigError(file, key, f"cannot read key file: {exc.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            file,
            key,
            f"key file is accessible by others (mode {stat.S_IMODE(mode):04o}); "
            "run: chmod 600 " + file,
        )
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        raise ConfigError(file, key, "cannot read key file") from None
    return ChargerKeys(nostr_sdk.Keys(_decode_secret(text, passphrase, file, key)))


def _decode_secret(text: str, passphrase: str | None, file: str, key: str) -> Any:
    if text.startswith("ncryptsec1"):
        if not passphrase:
            raise ConfigError(file, key, "key is NIP-49 encrypted; set ZAPCHARGE_KEY_PASSPHRASE")
        try:
            return nostr_sdk.EncryptedSecretKey.from_bech32(text).decrypt(passphrase)
        except Exception:  # wrong passphrase or damaged ncryptsec; the SDK error may quote it
            raise ConfigError(file, key, "cannot decrypt key (wrong passphrase?)") from None
    if text.startswith("nsec1") or (len(text) == 64 and _is_hex(text)):
        try:
            return nostr_sdk.SecretKey.parse(text)
        except Exception:
            raise ConfigError(file, key, "not a valid secret key") from None
    raise ConfigError(file, key, "expected one line with nsec1... or ncryptsec1...")


def _is_hex(text: str) -> bool:
    try:
        bytes.fromhex(text)
    except ValueError:
        return False
    return True
