"""LNURL strings: bech32 ``LNURL1...`` (LUD-01), ``lightning:`` URIs, lightning addresses.

LNURLs are longer than BIP-173's 90 characters; ``bech32`` 1.2 dropped that limit on
decode, which is why it is pinned to >=1.2.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import bech32

from bot.errors import LnurlError

__all__ = [
    "decode_lnurl",
    "encode_lnurl",
    "lightning_address_url",
    "lightning_uri",
    "parse_lightning_address",
]

_HRP = "lnurl"
# LUD-16: the user part is limited to a-z0-9-_. (lowercase only).
_ADDRESS = re.compile(r"^([a-z0-9\-_.]+)@([a-z0-9\-.]+(?::\d{1,5})?)$")
# Hosts reached over plain http: onion services (LUD-01) and this machine (tests, the demo).
_PLAIN_HTTP_HOSTS = ("localhost", "127.0.0.1")


def encode_lnurl(url: str) -> str:
    """The bech32 LNURL of ``url``, uppercase as LUD-01 recommends for QR codes."""
    if urlsplit(url).scheme not in ("http", "https"):
        raise ValueError(f"an LNURL encodes an http(s) URL, got {url[:40]!r}")
    words = bech32.convertbits(url.encode("utf-8"), 8, 5, True)
    assert words is not None  # padding on: 8-to-5 bit conversion cannot fail
    return bech32.bech32_encode(_HRP, words).upper()


def decode_lnurl(text: str) -> str:
    """The URL inside ``LNURL1...`` (either case, ``lightning:`` prefix allowed)."""
    value = text.strip()
    if value.lower().startswith("lightning:"):
        value = value[len("lightning:") :]
    hrp, words = bech32.bech32_decode(value)
    if hrp != _HRP or words is None:
        raise LnurlError("not a valid LNURL (bech32 with prefix lnurl)")
    data = bech32.convertbits(words, 5, 8, False)
    try:
        url = bytes(data or b"").decode("utf-8")
    except UnicodeDecodeError:
        raise LnurlError("LNURL does not hold a UTF-8 URL") from None
    if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
        raise LnurlError("LNURL does not hold an http(s) URL")
    return url


def lightning_uri(lnurl: str) -> str:
    """``lightning:LNURL1...``: what wallets open from a link or a QR code (LUD-01)."""
    return f"lightning:{lnurl}"


def parse_lightning_address(address: str) -> tuple[str, str]:
    """Split ``name@domain`` per LUD-16; raise LnurlError if it is not one."""
    match = _ADDRESS.match(address.strip())
    if match is None:
        raise LnurlError(f"not a lightning address: {address[:64]!r}")
    return match.group(1), match.group(2)


def lightning_address_url(address: str) -> str:
    """The LUD-16 pay endpoint of ``name@domain``."""
    name, domain = parse_lightning_address(address)
    host = domain.rsplit(":", 1)[0]
    plain = host.endswith(".onion") or host in _PLAIN_HTTP_HOSTS
    return f"{'http' if plain else 'https'}://{domain}/.well-known/lnurlp/{name}"
