"""Who may use the console: NIP-98 operators, a session cookie after one log-in, a bearer token.

Three ways in, checked in this order for every request:

- ``Authorization: Bearer <token>``: the content of ``[console] token_file``, for scripts
  (compared in constant time);
- ``Authorization: Nostr <base64 kind 27235 event>`` (NIP-98), signed by one of
  ``[console] operators``; each event is accepted once;
- the ``zapcharge_console`` cookie, set by ``POST /console/login`` after one NIP-98 event:
  random, HttpOnly, SameSite=Strict, Path=/console, alive ``session_minutes``, kept only in
  memory (a restart logs everybody out).

An event that authorizes a change (any method but GET/HEAD, the log-in included) is
accepted once; a replay within its minute is refused.

A signature that is not valid, too old, for another URL or method gives 401; a valid one
of someone who is not an operator 403. Cookie requests that change something must carry
the session's CSRF token (a form field or the ``X-CSRF-Token`` header) and, when the
browser sends one, an ``Origin`` of our own public URL; header-authenticated requests need
neither, since a browser never adds those headers to a cross-site request by itself.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import bech32
from aiohttp import web

from bot.config.console import ConsoleConfig
from bot.console.nip98 import parse_event, verify_event
from bot.errors import AuthRefused

__all__ = ["COOKIE", "Gate", "Operator", "npub_of"]

COOKIE = "zapcharge_console"
LOGIN_PATH = "/console/login"
_SAFE_METHODS = frozenset({"GET", "HEAD"})


def npub_of(pubkey_hex: str) -> str:
    words = bech32.convertbits(bytes.fromhex(pubkey_hex), 8, 5)
    assert words is not None  # 32 bytes always convert
    return str(bech32.bech32_encode("npub", words))


@dataclass(frozen=True)
class Operator:
    """Who made a request: ``name`` is an npub or ``token:<fingerprint>`` (never the token)."""

    name: str
    via: str  # "nip98", "cookie" or "token"
    sid: str | None = field(default=None, repr=False)  # the cookie session, for CSRF


@dataclass
class _Login:
    operator: Operator
    expires_at: float


class Gate:
    def __init__(
        self,
        config: ConsoleConfig,
        public_url: str,
        *,
        clock: Callable[[], float] = time.time,
        window_s: float = 60.0,
    ) -> None:
        self._operators = frozenset(config.operators)
        self._token = config.token
        self._token_name = (
            "token:" + hashlib.sha256(config.token.encode()).hexdigest()[:8] if config.token else ""
        )
        self._public = public_url.rstrip("/")
        self._origin = "{0.scheme}://{0.netloc}".format(urlsplit(self._public))
        self._secure = self._public.startswith("https://")
        self._clock = clock
        self._window_s = window_s
        self._ttl_s = config.session_minutes * 60.0
        self._logins: dict[str, _Login] = {}
        self._used: dict[str, float] = {}  # NIP-98 event ids seen, until they are too old anyway
        self._secret = secrets.token_bytes(32)

    def absolute_url(self, request: web.Request) -> str:
        """The URL a NIP-98 event must name: our public URL and the request's path and query."""
        return self._public + request.raw_path

    @property
    def origin(self) -> str:
        """``scheme://host[:port]`` of the public URL: the only Origin a form may come from."""
        return self._origin

    @property
    def login_url(self) -> str:
        return self._public + LOGIN_PATH

    async def operator(self, request: web.Request) -> Operator:
        """Who is asking; AuthRefused (401/403) for anyone else."""
        header = request.headers.get("Authorization")
        if header:
            scheme, _, value = header.strip().partition(" ")
            if scheme.lower() == "bearer":
                return self._bearer(value.strip())
            if scheme.lower() == "nostr":
                body = await request.read()
                return self._nip98(header, request.method, self.absolute_url(request), body)
            raise AuthRefused("unsupported authorization scheme; use Nostr (NIP-98) or Bearer")
        sid = request.cookies.get(COOKIE)
        if sid:
            return self._cookie(sid)
        raise AuthRefused("not logged in")

    def log_in(self, header_or_event: str, body: bytes = b"") -> tuple[Operator, str]:
        """A NIP-98 event for ``POST /console/login`` -> the operator and a new cookie value."""
        signed = self._nip98(header_or_event, "POST", self.login_url, body)
        sid = secrets.token_urlsafe(32)
        operator = Operator(signed.name, "cookie", sid)
        self._prune()
        self._logins[sid] = _Login(operator, self._clock() + self._ttl_s)
        return operator, sid

    def log_out(self, operator: Operator) -> None:
        if operator.sid is not None:
            self._logins.pop(operator.sid, None)

    def set_cookie(self, response: web.StreamResponse, sid: str) -> None:
        response.set_cookie(
            COOKIE,
            sid,
            max_age=int(self._ttl_s),
            path="/console",
            httponly=True,
            samesite="Strict",
            secure=self._secure,
        )

    def csrf_token(self, operator: Operator) -> str:
        """The token a cookie session's forms carry; empty for header-authenticated callers."""
        if operator.sid is None:
            return ""
        return hmac.new(self._secret, operator.sid.encode(), hashlib.sha256).hexdigest()

    def check_csrf(self, request: web.Request, operator: Operator, supplied: str | None) -> None:
        """For a request that changes something: 403 unless it is safe from cross-site forgery."""
        if operator.sid is None:
            return
        origin = request.headers.get("Origin")
        if origin is not None and origin != self._origin:
            raise AuthRefused(f"cross-site request from origin {origin[:80]!r}", 403)
        if not supplied or not hmac.compare_digest(supplied, self.csrf_token(operator)):
            raise AuthRefused("missing or wrong CSRF token", 403)

    # -- the three ways in ------------------------------------------------------------------

    def _bearer(self, token: str) -> Operator:
        if self._token is None:
            raise AuthRefused("no bearer token is configured ([console] token_file)")
        if not hmac.compare_digest(token.encode(), self._token.encode()):
            raise AuthRefused("wrong bearer token")
        return Operator(self._token_name, "token")

    def _nip98(self, header: str, method: str, url: str, body: bytes) -> Operator:
        now = self._clock()
        signed = verify_event(
            parse_event(header), method=method, url=url, body=body, now=now, window_s=self._window_s
        )
        npub = npub_of(signed.pubkey)
        if signed.pubkey not in self._operators:
            raise AuthRefused(f"{npub} is not an operator of this console", 403)
        if method.upper() not in _SAFE_METHODS:
            # Single use for what changes something. Reads are not: a client that asks for
            # the same URL twice in one second signs the very same event twice.
            self._prune()
            if signed.event_id in self._used:
                raise AuthRefused("this authorization event was used before")
            self._used[signed.event_id] = now + 2 * self._window_s
        return Operator(npub, "nip98")

    def _cookie(self, sid: str) -> Operator:
        login = self._logins.get(sid)
        if login is None or login.expires_at <= self._clock():
            self._logins.pop(sid, None)
            raise AuthRefused("log-in expired or unknown; log in again")
        return login.operator

    def _prune(self) -> None:
        now = self._clock()
        for event in [k for k, until in self._used.items() if until <= now]:
            del self._used[event]
        for sid in [s for s, login in self._logins.items() if login.expires_at <= now]:
            del self._logins[sid]
