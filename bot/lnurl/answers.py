"""LUD answers as aiohttp responses: JSON, any origin allowed, refusals as LUD errors.

Every refusal is ``{"status": "ERROR", "reason": ...}`` with HTTP 200, which is what wallets
read; every answer allows any origin, as NIP-05 and web wallets need.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from bot.errors import LnurlError, ZapInvalid
from bot.lnurl.protocol import error_response

__all__ = ["lud_answer", "lud_json"]

log = logging.getLogger(__name__)

_CORS = {"Access-Control-Allow-Origin": "*"}


def lud_json(answer: object, status: int = 200) -> web.Response:
    return web.json_response(answer, status=status, headers=_CORS)


async def lud_answer(action: Callable[[], Awaitable[object]], what: str) -> web.Response:
    """Run one endpoint's action; a refusal becomes the LUD error answer (and a log line)."""
    try:
        return lud_json(await action())
    except ZapInvalid as exc:
        log.info("%s refused (%s): %s", what, exc.code, exc.reason)
        return lud_json(error_response(exc.reason))
    except LnurlError as exc:
        log.info("%s refused: %s", what, exc.reason)
        return lud_json(error_response(exc.reason))
