"""The HTTP fuzz tier: seeded hostile requests against the real LNURL/NIP-05 server.

Whatever the path, method, query or encoding: never a 5xx, every LNURL-shaped path answers
JSON that a wallet can read (a LUD answer or ``{"status": "ERROR", "reason": ...}``) with
CORS headers, and no invoice is issued for a request that is not a valid one.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

import pytest

from bot.lnurl.edges import is_public_lnurl_path
from tests.lnurl.support import Site, pay_site

REQUESTS = 1500
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


def _request(rng: random.Random) -> tuple[str, str]:
    junk = rng.choice(_JUNK)
    path = rng.choice(_PATHS).replace("{junk}", quote(junk, safe="/%", errors="surrogatepass"))
    pairs = [
        f"{quote(rng.choice(_KEYS))}={quote(rng.choice(_VALUES), errors='surrogatepass')}"
        for _ in range(rng.randrange(4))
    ]
    method = rng.choice(("GET", "GET", "GET", "POST", "OPTIONS", "PUT", "HEAD"))
    return method, path + ("?" + "&".join(pairs) if pairs else "")


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    async with pay_site(tmp_path) as running:
        yield running


async def test_hostile_requests_never_cost_a_5xx_or_an_invoice(site: Site) -> None:
    rng = random.Random(13)
    statuses: dict[int, int] = {}
    for _ in range(REQUESTS):
        method, target = _request(rng)
        async with site.http.request(method, site.base + target) as response:
            statuses[response.status] = statuses.get(response.status, 0) + 1
            assert response.status < 500, (method, target, response.status)
            path = response.request_info.url.path  # as sent: the client resolves ".."
            if is_public_lnurl_path(path) and method not in ("HEAD", "OPTIONS"):
                cors = response.headers.get("Access-Control-Allow-Origin")
                assert cors == "*", (method, target, response.status)
                body = await response.json(content_type=None)
                assert isinstance(body, dict), (target, body)
                if body.get("status") == "ERROR":
                    assert body["reason"], target
    rows = await site.db.fetchall("SELECT COUNT(*) AS n FROM invoices")
    # Only "amount=1000" on the real callback could be valid; it is below min_sendable.
    assert rows[0]["n"] == 0
    assert len(statuses) >= 3
