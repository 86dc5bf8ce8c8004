"""An LNURL-pay client over aiohttp: the one place the bot fetches someone else's LNURL.

Hosts come from strangers (a driver's lightning address, the callback their server names),
so each request is held to :mod:`bot.lnurl.hosts`' rule, plain http only for loopback
and onion hosts (LUD-01), no redirects, a time limit and a size limit.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from bot import __version__
from bot.errors import LnurlError
from bot.lnurl.hosts import is_loopback_host, is_public_host
from bot.lnurl.payer import callback_url, lud_error, parse_pay_request
from bot.lnurl.protocol import PayOffer

__all__ = ["LnurlClient", "lnurl_client"]

MAX_ANSWER_BYTES = 256 * 1024  # a pay request with a 100 kB image, and room to spare
TIMEOUT_S = 15.0


class LnurlClient:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        allow_loopback: bool,
        allow_private: bool = False,
        timeout_s: float = TIMEOUT_S,
    ) -> None:
        # allow_private: any host at all, for a person's own command (``zapcharge zap``),
        # never for the bot, which must not be steered into its own network by strangers.
        self.session = session
        self.allow_loopback = allow_loopback or allow_private
        self.allow_private = allow_private
        self.timeout_s = timeout_s

    async def pay_request(self, url: str) -> PayOffer:
        return parse_pay_request(await self.get_json(url))

    async def invoice(
        self,
        offer: PayOffer,
        amount_msat: int,
        *,
        comment: str = "",
        nostr: str | None = None,
    ) -> str:
        """Call the pay request's callback for ``amount_msat``; return its ``pr`` unchecked."""
        if not offer.min_sendable_msat <= amount_msat <= offer.max_sendable_msat:
            raise LnurlError(
                f"{amount_msat} msat is outside what the recipient accepts "
                f"({offer.min_sendable_msat}..{offer.max_sendable_msat} msat)"
            )
        params = {"amount": str(amount_msat)}
        if comment and offer.comment_allowed:
            params["comment"] = comment[: offer.comment_allowed]
        if nostr is not None:
            params["nostr"] = nostr
        answer = await self.get_json(callback_url(offer.callback, params))
        pr = answer.get("pr") if isinstance(answer, dict) else None
        if not isinstance(pr, str):
            raise LnurlError("the callback answered no invoice")
        return pr

    async def get_json(self, url: str) -> Any:
        """GET ``url`` and parse JSON; a LUD error answer raises LnurlError with its reason."""
        host = self._check_url(url)
        try:
            async with self.session.get(
                url,
                timeout=aiohttp.ClientTimeout(total=self.timeout_s),
                allow_redirects=False,
                headers={"Accept": "application/json"},
            ) as response:
                body = await response.content.read(MAX_ANSWER_BYTES + 1)
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise LnurlError(f"{host} cannot be reached ({type(exc).__name__})") from None
        if len(body) > MAX_ANSWER_BYTES:
            raise LnurlError(f"{host} answered more than {MAX_ANSWER_BYTES} bytes")
        try:
            data = json.loads(body)
        except ValueError:
            raise LnurlError(f"{host} answered HTTP {status} without JSON") from None
        reason = lud_error(data)
        if reason is not None:
            raise LnurlError(f"{host} refused: {reason}")
        if status != 200:
            raise LnurlError(f"{host} answered HTTP {status}")
        return data

    def _check_url(self, url: str) -> str:
        try:
            parts = urlsplit(url)
            host = parts.hostname or ""
        except ValueError:
            raise LnurlError("not a URL") from None
        loopback = is_loopback_host(host)
        if loopback and not self.allow_loopback:
            raise LnurlError(f"refusing to contact {host}: a loopback address")
        if not loopback and not self.allow_private and not is_public_host(host):
            raise LnurlError(f"refusing to contact {host}: not a public host")
        plain_ok = loopback or host.endswith(".onion")
        if parts.scheme != "https" and not (parts.scheme == "http" and plain_ok):
            raise LnurlError(f"refusing {parts.scheme}:// for {host}: LNURL needs https")
        return host


@asynccontextmanager
async def lnurl_client(
    *, allow_loopback: bool, allow_private: bool = False
) -> AsyncIterator[LnurlClient]:
    headers = {"User-Agent": f"zapcharge/{__version__}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        yield LnurlClient(session, allow_loopback=allow_loopback, allow_private=allow_private)
