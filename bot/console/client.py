"""A client of the console's JSON API, for the CLI: bearer token from ``[console] token_file``.

The running bot is reached at ``--url`` or else at ``[http] listen`` (a wildcard host
means this machine: 127.0.0.1). Every failure is a :class:`~bot.errors.ConsoleError`
with the console's own message, or one that says the bot is not reachable.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from bot.config import Config
from bot.errors import ConsoleError

__all__ = ["ConsoleClient", "console_url"]

_WILDCARDS = ("0.0.0.0", "::", "")  # noqa: S104 -- names of wildcards, to replace them


def console_url(config: Config, override: str | None = None) -> str:
    if override:
        return override.rstrip("/")
    listen = config.http.listen
    host = "127.0.0.1" if listen.host in _WILDCARDS else listen.host
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{listen.port}"


class ConsoleClient:
    def __init__(self, base_url: str, token: str | None, *, timeout_s: float = 60.0) -> None:
        if token is None:
            raise ConsoleError(
                "this command uses the console's API: set [console] token_file in relays.toml "
                "(a file with one random line, mode 0600) and restart the bot"
            )
        self.base_url = base_url
        self._headers = {"Authorization": f"Bearer {token}"}
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def get(self, path: str, params: dict[str, str] | None = None) -> Any:
        return await self._call("GET", path, params=params)

    async def post(self, path: str, body: dict[str, Any]) -> Any:
        return await self._call("POST", path, json={**body, "confirm": True})

    async def _call(self, method: str, path: str, **options: Any) -> Any:
        url = self.base_url + path
        try:
            async with (
                aiohttp.ClientSession(timeout=self._timeout) as http,
                http.request(method, url, headers=self._headers, **options) as answer,
            ):
                try:
                    body = await answer.json(content_type=None)
                except ValueError:
                    body = None
                if answer.status >= 400 and answer.status != 502:
                    message = body.get("error") if isinstance(body, dict) else None
                    raise ConsoleError(
                        f"console answered {answer.status}: {message or answer.reason}",
                        answer.status,
                    )
                return body
        except (aiohttp.ClientConnectionError, TimeoutError) as error:
            raise ConsoleError(
                f"the bot's console at {self.base_url} is not reachable ({error}); "
                "is `zapcharge run` running?"
            ) from None
