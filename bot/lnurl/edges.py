"""The edges of the public LNURL and NIP-05 endpoints: CORS preflights and LNURL errors.

Browser clients (web wallets, nostr web clients) fetch ``/.well-known/lnurlp/<name>``, the
pay callback and ``/.well-known/nostr.json`` from another origin; once they add a header
the browser first sends ``OPTIONS``, and without an answer that allows it the real
request never leaves the browser. Wallets, for their part, show the ``reason`` of an
LNURL error body and only a generic failure for anything else, so a path that looks like
an LNURL endpoint but does not exist (a typo in a printed QR code, a deleted charger's
withdraw link) answers ``{"status": "ERROR", "reason": ...}`` rather than plain text.

:func:`lnurl_edges` is an aiohttp middleware; every other path passes untouched.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from bot.lnurl.protocol import error_response

__all__ = ["CORS_HEADERS", "is_public_lnurl_path", "lnurl_edges"]

# Paths whose answers any origin may read (LUD-01 and NIP-05 ask for this).
_PREFIXES = ("/.well-known/lnurlp/", "/lnurlp/", "/lnurlw/", "/.well-known/nostr.json")
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, OPTIONS",
    "Access-Control-Max-Age": "86400",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def is_public_lnurl_path(path: str) -> bool:
    return path.startswith(_PREFIXES)


def _preflight(request: web.Request) -> web.Response:
    headers = dict(CORS_HEADERS)
    # Allow whatever headers the client asks for: these endpoints take no credentials.
    asked = request.headers.get("Access-Control-Request-Headers")
    if asked:
        headers["Access-Control-Allow-Headers"] = asked[:1000]
    return web.Response(status=204, headers=headers)


def _lnurl_error(status: int, reason: str) -> web.Response:
    return web.json_response(error_response(reason), status=status, headers=CORS_HEADERS)


@web.middleware
async def lnurl_edges(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not is_public_lnurl_path(request.path):
        return await handler(request)
    if request.method == "OPTIONS":
        return _preflight(request)
    try:
        response = await handler(request)
    except web.HTTPNotFound:
        return _lnurl_error(404, f"no LNURL endpoint at {request.path[:200]}")
    except web.HTTPMethodNotAllowed:
        return _lnurl_error(405, f"{request.method} is not served here; use GET")
    for name, value in CORS_HEADERS.items():
        response.headers.setdefault(name, value)
    return response
