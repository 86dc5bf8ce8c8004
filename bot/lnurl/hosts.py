"""Which hosts the bot may contact on a stranger's word, without I/O.

Two inputs name hosts we then connect to: the ``relays`` tag of a zap request (we publish
the receipt there, and DM the payer there) and a driver's lightning address (we fetch its
LNURL-pay endpoint to refund). Both come from outside, so both are held to one rule: only
public hosts. A private, loopback or link-local address would let anyone make the bot
probe its own network. The exception is a deployment whose own relays are on loopback
(tests, ``zapcharge demo``): there everything lives on 127.0.0.1, so loopback is allowed.

Only literal addresses and well-known local names are recognised here; a public name that
resolves to a private address (DNS rebinding) is not caught, which is why the fetches that
follow also refuse redirects and cap their size and time.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit

__all__ = [
    "MAX_RECEIPT_RELAYS",
    "is_loopback_host",
    "is_public_host",
    "loopback_deployment",
    "usable_relays",
]

# Enough to reach the payer: clients list their few write relays; the rest is noise.
MAX_RECEIPT_RELAYS = 10
_LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".lan", ".home.arpa")


def is_loopback_host(host: str) -> bool:
    name = host.strip("[]").lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def is_public_host(host: str) -> bool:
    """True for a dotted DNS name or a globally routable address."""
    name = host.strip("[]").lower().rstrip(".")
    if not name:
        return False
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        # A single-label name ("relay", "nas") can only mean something on a local network.
        return "." in name and not name.endswith(_LOCAL_SUFFIXES)
    return address.is_global and not address.is_multicast


def loopback_deployment(our_urls: Iterable[str]) -> bool:
    """True when one of our own relays (or our public URL) is on loopback: tests, the demo."""
    return any(is_loopback_host(urlsplit(url).hostname or "") for url in our_urls)


def usable_relays(
    relays: Iterable[str], *, allow_loopback: bool, limit: int = MAX_RECEIPT_RELAYS
) -> tuple[str, ...]:
    """The ws(s) relays of a stranger's list we may connect to, first ``limit``, no repeats."""
    usable: list[str] = []
    for raw in relays:
        url = raw.strip()
        host = _ws_host(url)
        if host is None or url in usable:
            continue
        if is_public_host(host) or (allow_loopback and is_loopback_host(host)):
            usable.append(url)
        if len(usable) >= limit:
            break
    return tuple(usable)


def _ws_host(url: str) -> str | None:
    try:
        parts = urlsplit(url)
        if parts.scheme not in ("ws", "wss") or parts.port == 0 or parts.username:
            return None
        return parts.hostname or None
    except ValueError:  # a bad port or IPv6 literal
        return None
