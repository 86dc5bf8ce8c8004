"""Seeded hostile HTTP requests for the LNURL/NIP-05 server, and what a wallet must get back
whatever it sends: the suite's tier (tests/lnurl/test_http_fuzz.py) and the long one in
``make bench`` (bench/http_fuzz.py) share them."""

from __future__ import annotations

import random
from urllib.parse import quote

import aiohttp

from bot.lnurl.edges import is_public_lnurl_path

__all__ = ["problem", "request"]

_PATHS = (
    "/.well-known/lnurlp/cp-001",
    "/.well-known/lnurlp/{junk}",
    "/lnurlp/cp-001/callback",
    "/lnurlp/{junk}/callback",
    "/lnurlp/verify/{junk}",
    "/lnurlw/{junk}",
    "/lnurlw/callback",
    "/.well-known/nostr.json",
    "/s/{junk}",
    "/{junk}",
)
_JUNK = ("", "x" * 300, "%00", "\ud800", "cp-001/extra", "../../etc/passwd", "0" * 64, "☃", "%ff")
_KEYS = ("amount", "nostr", "comment", "k1", "pr", "name", "lnurl", "amount", "x")
_VALUES = (
    "1000",
    "-1",
    "18446744073709551617",
    "1e400",
    "NaN",
    "",
    "{}",
    '{"kind":9734}',
    "\ud800",
    "a" * 3000,
    "%",
)


def request(rng: random.Random) -> tuple[str, str]:
    junk = rng.choice(_JUNK)
    path = rng.choice(_PATHS).replace("{junk}", quote(junk, safe="/%", errors="surrogatepass"))
    pairs = [
        f"{quote(rng.choice(_KEYS))}={quote(rng.choice(_VALUES), errors='surrogatepass')}"
        for _ in range(rng.randrange(4))
    ]
    method = rng.choice(("GET", "GET", "GET", "POST", "OPTIONS", "PUT", "HEAD"))
    return method, path + ("?" + "&".join(pairs) if pairs else "")


async def problem(method: str, target: str, response: aiohttp.ClientResponse) -> str | None:
    """What is wrong with this answer, or None: never a 5xx; every LNURL-shaped path answers
    JSON a wallet can read (a LUD answer or ``{"status": "ERROR", "reason": ...}``), with
    CORS headers."""
    path = response.request_info.url.path  # as sent: the client resolves ".."
    wrong = None
    if response.status >= 500:
        wrong = "a server error"
    elif is_public_lnurl_path(path) and method not in ("HEAD", "OPTIONS"):
        wrong = await _wallet_unreadable(response)
    return f"{method} {target[:80]} -> {response.status}: {wrong}" if wrong else None


async def _wallet_unreadable(response: aiohttp.ClientResponse) -> str | None:
    if response.headers.get("Access-Control-Allow-Origin") != "*":
        return "no CORS header"
    try:
        body = await response.json(content_type=None)
    except ValueError:
        return "not JSON"
    if not isinstance(body, dict):
        return "JSON that is not an object"
    if body.get("status") == "ERROR" and not body.get("reason"):
        return "an ERROR without a reason"
    return None
