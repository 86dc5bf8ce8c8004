"""CORS preflights and LNURL error bodies on the public LNURL paths (issue 13), over the
real pay/withdraw providers of the bot's HTTP server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.lnurl.support import Site, pay_site

PUBLIC = [
    "/.well-known/lnurlp/cp-001",
    "/lnurlp/cp-001/callback",
    "/.well-known/nostr.json",
    "/lnurlw/callback",
]


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    async with pay_site(tmp_path) as running:
        yield running


@pytest.mark.parametrize("path", PUBLIC)
async def test_a_browser_preflight_is_allowed(site: Site, path: str) -> None:
    headers = {
        "Origin": "https://wallet.example",
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "x-client, content-type",
    }
    async with site.http.options(site.base + path, headers=headers) as response:
        assert response.status == 204
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert "GET" in response.headers["Access-Control-Allow-Methods"]
        assert response.headers["Access-Control-Allow-Headers"] == "x-client, content-type"


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/.well-known/lnurlp/cp-001/extra", 404),
        ("GET", "/lnurlp/cp-001/callbak", 404),
        ("GET", "/lnurlw/not-a-k1", 404),
        ("GET", "/lnurlp/verify/xyz", 404),
        ("POST", "/.well-known/lnurlp/cp-001", 405),
        ("DELETE", "/.well-known/nostr.json", 405),
    ],
)
async def test_lnurl_shaped_paths_that_do_not_exist_answer_an_lnurl_error(
    site: Site, method: str, path: str, status: int
) -> None:
    async with site.http.request(method, site.base + path) as response:
        assert response.status == status
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        body = await response.json()
    assert body["status"] == "ERROR" and body["reason"]


async def test_answers_carry_cors_and_other_paths_are_left_alone(site: Site) -> None:
    async with site.http.get(site.base + "/.well-known/nostr.json?name=cp-001") as response:
        assert response.headers["Access-Control-Allow-Origin"] == "*"
    async with site.http.get(site.base + "/nowhere") as response:
        assert response.status == 404
        assert "Access-Control-Allow-Origin" not in response.headers
        assert response.content_type == "text/plain"


async def test_a_zap_request_as_long_as_we_take_reaches_the_callback(site: Site) -> None:
    """A zap request travels URL-encoded in the callback's query: one near our size limit
    (bot.nostr.zaps.MAX_REQUEST_CHARS) is three times as long on the request line. It must
    get the callback's own answer, not the HTTP parser's bare 400 for long lines."""
    from urllib.parse import quote

    from bot.nostr.zaps import MAX_REQUEST_CHARS

    zap_request = '{"kind":9734,"content":"' + "\u2603" * (MAX_REQUEST_CHARS // 4) + '"}'
    target = "/lnurlp/cp-001/callback?amount=1000000&nostr=" + quote(zap_request)
    assert len(target) > 3 * 8190  # well past the parser's default line limit
    async with site.http.get(site.base + target) as response:
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        body = await response.json(content_type=None)
    assert body["status"] == "ERROR"
    assert "zap request" in body["reason"]
