"""Charger secret keys as plain data: generate, load (0600, optionally NIP-49) and hide.

A key file holds one line: ``nsec1...``, 64 hex digits, or a NIP-49 ``ncryptsec1...``.
Loading refuses a file that group or others may read, the way ssh refuses a private key
with loose modes. The config holds only bytes and hex; the nostr layer makes its own SDK
objects from them (``bot.nostr.keys.sdk_keys``), so reading the config loads no nostr SDK.

NIP-49 is decrypted here with scrypt (hashlib) and XChaCha20-Poly1305 (pycryptodomex);
``tests/config/test_keys.py`` checks it against files the nostr SDK encrypted.
"""

from __future__ import annotations

import hashlib
import stat
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import bech32
import coincurve
from Cryptodome.Cipher import ChaCha20_Poly1305

from bot.errors import ConfigError

__all__ = [
    "ChargerKeys",
    "generate_keys",
    "load_key_file",
    "npub_to_hex",
]

_NIP49_VERSION = 0x02
_NIP49_MAX_LOG_N = 22  # 2^22 scrypt rounds need 4 GiB; nobody encrypts a key harder


@dataclass(frozen=True, slots=True)
class ChargerKeys:
    """A charger's keypair. Its repr shows only the public key, so logs cannot leak it."""

    secret: bytes = field(repr=False)  # 32 bytes
    public_key_hex: str  # BIP-340 x-only, as nostr uses it

    @classmethod
    def from_secret(cls, secret: bytes) -> ChargerKeys:
        """Raises ValueError when ``secret`` is not a valid secp256k1 secret key."""
        if len(secret) != 32:
            raise ValueError("a secret key has 32 bytes")
        public = coincurve.PrivateKey(secret).public_key.format(compressed=True)[1:]
        return cls(secret, public.hex())

    @property
    def npub(self) -> str:
        return _bech32_encode("npub", bytes.fromhex(self.public_key_hex))

    def nsec(self) -> str:
        """The secret key in bech32; only for writing the key file."""
        return _bech32_encode("nsec", self.secret)

    def __repr__(self) -> str:
        return f"ChargerKeys({self.npub})"


def generate_keys() -> ChargerKeys:
    return ChargerKeys.from_secret(coincurve.PrivateKey().secret)


def npub_to_hex(text: str) -> str:
    """Accept an ``npub1...`` or 64 hex characters; raise ValueError otherwise."""
    text = text.strip()
    raw = _bech32_decode("npub", text) if text.startswith("npub1") else _hex_bytes(text)
    if raw is None or len(raw) != 32 or not _on_curve(raw):
        raise ValueError(f"not a public key: {text[:16]}...")
    return raw.hex()


def _on_curve(x_only: bytes) -> bool:
    try:
        coincurve.PublicKeyXOnly(x_only)
    except ValueError:
        return False
    return True


def check_private(path: Path, file: str, key: str) -> None:
    """A secret kept in a file of its own (a bearer token, a wallet connection): it must
    exist and be readable by its owner only; ConfigError naming ``file``, ``key``, ``path``."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise ConfigError(file, key, f"{path} does not exist") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            file,
            key,
            f"{path} is readable by group or others (mode {mode & 0o777:04o}): chmod 600 {path}",
        )


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
    secret = _decode_secret(text, passphrase, file, key)
    try:
        return ChargerKeys.from_secret(secret)
    except ValueError:
        raise ConfigError(file, key, "not a valid secret key") from None


def _decode_secret(text: str, passphrase: str | None, file: str, key: str) -> bytes:
    if text.startswith("ncryptsec1"):
        if not passphrase:
            raise ConfigError(file, key, "key is NIP-49 encrypted; set ZAPCHARGE_KEY_PASSPHRASE")
        secret = _nip49_decrypt(text, passphrase)
        if secret is None:  # wrong passphrase or a damaged ncryptsec
            raise ConfigError(file, key, "cannot decrypt key (wrong passphrase?)")
        return secret
    raw = _bech32_decode("nsec", text) if text.startswith("nsec1") else _hex_bytes(text)
    if text.startswith("nsec1") or len(text) == 64:
        if raw is None:
            raise ConfigError(file, key, "not a valid secret key")
        return raw
    raise ConfigError(file, key, "expected one line with nsec1... or ncryptsec1...")


def _nip49_decrypt(text: str, passphrase: str) -> bytes | None:
    """NIP-49: version 2, log_n, salt(16), nonce(24), key security byte, ciphertext(48)."""
    raw = _bech32_decode("ncryptsec", text)
    if raw is None or len(raw) != 91 or raw[0] != _NIP49_VERSION or raw[1] > _NIP49_MAX_LOG_N:
        return None
    log_n, salt, nonce, security, sealed = raw[1], raw[2:18], raw[18:42], raw[42:43], raw[43:]
    password = unicodedata.normalize("NFKC", passphrase).encode()
    # scrypt needs 128 * r * N bytes; allow that and a margin.
    memory = 129 * 8 * (1 << log_n) + (1 << 20)
    derived = hashlib.scrypt(password, salt=salt, n=1 << log_n, r=8, p=1, dklen=32, maxmem=memory)
    cipher = ChaCha20_Poly1305.new(key=derived, nonce=nonce)  # a 24-byte nonce: XChaCha20
    cipher.update(security)
    try:
        return cipher.decrypt_and_verify(sealed[:-16], sealed[-16:])
    except ValueError:  # the MAC does not match
        return None


def _bech32_encode(hrp: str, data: bytes) -> str:
    words = bech32.convertbits(data, 8, 5)
    assert words is not None  # 8 -> 5 bits with padding always converts
    return str(bech32.bech32_encode(hrp, words))


def _bech32_decode(hrp: str, text: str) -> bytes | None:
    found, words = bech32.bech32_decode(text)
    if found != hrp or words is None:
        return None
    data = bech32.convertbits(words, 5, 8, False)
    return None if data is None else bytes(data)


def _hex_bytes(text: str) -> bytes | None:
    if len(text) != 64:
        return None
    try:
        return bytes.fromhex(text)
    except ValueError:
        return None
