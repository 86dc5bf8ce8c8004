"""The Nostr Wallet Connect URI of ``[lightning] backend = "nwc"``, read once from its file.

::

    [lightning]
    backend = "nwc"
    nwc_uri_file = "wallet.nwc"   # one line, mode 0600

The file holds one line, as a wallet shows it (NIP-47)::

    nostr+walletconnect://<wallet pubkey, 64 hex>?relay=wss://...&relay=...&secret=<64 hex>

The secret is the key the bot signs its requests with: whoever reads it can spend from the
wallet within the connection's budget. So the file is refused, like a charger's key file,
when group or others may read it, and the secret never appears in a repr, an error or a
log line (errors name the file and the part that is wrong, never the value).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from bot.config.keys import check_private
from bot.errors import ConfigError

__all__ = ["NWC_SCHEME", "NwcUri", "parse_nwc_uri", "read_nwc_uri_file"]

NWC_SCHEME = "nostr+walletconnect"
_HEX_KEY = re.compile(r"^[0-9a-f]{64}$")
_KNOWN_PARAMS = frozenset({"relay", "secret", "lud16"})
# secp256k1's group order: a secret key must lie in 1..n-1.
_CURVE_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


@dataclass(frozen=True)
class NwcUri:
    """A parsed connection: whom to ask (the wallet service's key), where, and our key."""

    wallet_pubkey: str  # hex, x-only
    relays: tuple[str, ...]  # the wallet's own relays, in the URI's order
    secret: str = field(repr=False)  # hex; the client key the wallet knows us by
    lud16: str | None = None  # the wallet's lightning address, when it offers one

    def __str__(self) -> str:
        return f"nwc wallet {self.wallet_pubkey[:12]}… via {', '.join(self.relays)}"


def parse_nwc_uri(text: str) -> NwcUri:
    """Parse one URI; ``ValueError`` says what is wrong without repeating the secret."""
    parts = urlsplit(text.strip())
    if parts.scheme != NWC_SCHEME:
        raise ValueError(f"expected a {NWC_SCHEME}:// URI, got scheme {parts.scheme!r}")
    # Wallets write the pubkey as the "host" (nostr+walletconnect://<hex>?...); a few
    # write nostr+walletconnect:<hex>?... without the slashes, which urlsplit puts in path.
    pubkey = (parts.netloc or parts.path.lstrip("/")).lower()
    if not _HEX_KEY.match(pubkey):
        raise ValueError("the wallet public key (after ://) must be 64 hex characters")
    params = parse_qs(parts.query, keep_blank_values=True)
    unknown = sorted(set(params) - _KNOWN_PARAMS)
    if unknown:
        raise ValueError(f"unknown parameter {unknown[0]!r} (expected relay, secret, lud16)")
    relays = tuple(dict.fromkeys(params.get("relay", [])))
    if not relays:
        raise ValueError("no relay= parameter: the wallet's relay is needed")
    for relay in relays:
        relay_parts = urlsplit(relay)
        if relay_parts.scheme not in ("ws", "wss") or not relay_parts.netloc:
            raise ValueError(f"relay {relay!r} is not a ws:// or wss:// URL")
    secrets = params.get("secret", [])
    if len(secrets) != 1:
        raise ValueError("expected exactly one secret= parameter")
    secret = secrets[0].lower()
    if not _HEX_KEY.match(secret) or not 0 < int(secret, 16) < _CURVE_ORDER:
        raise ValueError("secret= must be a secp256k1 secret key in 64 hex characters")
    lud16 = params.get("lud16", [None])[-1] or None
    return NwcUri(wallet_pubkey=pubkey, relays=relays, secret=secret, lud16=lud16)


def read_nwc_uri_file(path: Path, file: str, key: str) -> NwcUri:
    """The URI in ``path``; ConfigError (naming ``file``, ``key`` and ``path``) otherwise."""
    check_private(path, file, key)
    try:
        lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(file, key, f"cannot read {path}: {exc}") from None
    if len(lines) != 1:
        raise ConfigError(file, key, f"{path}: expected one line, found {len(lines)}")
    try:
        return parse_nwc_uri(lines[0])
    except ValueError as exc:
        raise ConfigError(file, key, f"{path}: {exc}") from None
