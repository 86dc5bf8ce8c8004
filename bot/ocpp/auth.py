"""The handshake decision, without I/O: which charger is this, and may it connect?

Security profile 1 (OCPP 1.6 security whitepaper): HTTP Basic auth, user name = the charge
point identity in the URL, password = its ``ocpp_password``. Everything is decided before
the websocket upgrade, so a refused charger never gets to send an OCPP message.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import unquote

__all__ = ["OCPP_PATH", "Admitted", "RedactingLog", "Refused", "admit"]

OCPP_PATH = "/ocpp/"


@dataclass(frozen=True)
class Admitted:
    charger_id: str


@dataclass(frozen=True)
class Refused:
    status: HTTPStatus
    reason: str  # for our log; the charger only sees the status line
    challenge: bool = False  # add WWW-Authenticate


def admit(path: str, authorization: str | None, passwords: Mapping[str, str]) -> Admitted | Refused:
    """Decide on one upgrade request to ``path`` with its Authorization header."""
    target = path.split("?", 1)[0]
    if not target.startswith(OCPP_PATH):
        return Refused(HTTPStatus.NOT_FOUND, f"no OCPP endpoint at {target[:80]!r}")
    charger_id = unquote(target[len(OCPP_PATH) :].rstrip("/"))
    expected = passwords.get(charger_id)
    if expected is None:
        return Refused(HTTPStatus.NOT_FOUND, f"unknown charger id {charger_id[:40]!r}")
    credentials = _basic(authorization)
    if credentials is None:
        return Refused(HTTPStatus.UNAUTHORIZED, "no basic auth", challenge=True)
    user, password = credentials
    # Compare both in constant time; do not reveal which of the two was wrong.
    user_ok = hmac.compare_digest(user.encode(), charger_id.encode())
    password_ok = hmac.compare_digest(password.encode(), expected.encode())
    if not (user_ok and password_ok):
        return Refused(HTTPStatus.UNAUTHORIZED, "wrong user name or password", challenge=True)
    return Admitted(charger_id)


def _basic(header: str | None) -> tuple[str, str] | None:
    if header is None:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


class RedactingLog(logging.LoggerAdapter[logging.Logger]):
    """For ``websockets``: at DEBUG it logs every handshake header, Authorization too.

    Its INFO lines ("connection open", "connection closed") only repeat our own
    online/offline lines; a reconnect storm of 10,000 chargers made 30,000 of them. They
    are passed on only when the logger is set to DEBUG.
    """

    def __init__(self, name: str) -> None:
        super().__init__(logging.getLogger(name), {})

    def log(self, level: int, msg: object, *args: object, **kwargs: object) -> None:
        if level == logging.INFO and not self.logger.isEnabledFor(logging.DEBUG):
            return
        if len(args) == 2 and str(args[0]).lower() == "authorization":
            args = (args[0], "[redacted]")
        super().log(level, msg, *args, **kwargs)  # type: ignore[arg-type]
