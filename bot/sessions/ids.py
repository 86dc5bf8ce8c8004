"""Identifiers of a session: its id, its page token, its OCPP idTag, and LNURL-withdraw k1s.

The randomness source is passed in (:class:`SessionIds`), so tests can make ids repeatable.
The idTag is *derived* from the session id: OCPP 1.6 idTags are CiString20 (at most 20
characters, compared case-insensitively), so a nostr pubkey does not fit, and the payer's
identity should not be shown on a charger's display or logs anyway.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import uuid
from collections.abc import Callable

__all__ = ["ID_TAG_LENGTH", "SessionIds", "id_tag_for", "looks_like_id_tag"]

ID_TAG_LENGTH = 20
_ID_TAG_PREFIX = "ZC"
_ID_TAG = re.compile(rf"^{_ID_TAG_PREFIX}[A-Z2-7]{{{ID_TAG_LENGTH - len(_ID_TAG_PREFIX)}}}$")


class SessionIds:
    """Fresh random identifiers from ``randbytes`` (default: the OS CSPRNG)."""

    def __init__(self, randbytes: Callable[[int], bytes] = secrets.token_bytes) -> None:
        self._randbytes = randbytes

    def session_id(self) -> str:
        """A random (version 4) UUID: shown in receipts, not a secret."""
        return str(uuid.UUID(bytes=self._randbytes(16), version=4))

    def page_token(self) -> str:
        """256 random bits, URL-safe: the only secret in a session page's URL."""
        return _b64url(self._randbytes(32))

    def k1(self) -> str:
        """An LNURL-withdraw k1: 32 random bytes, hex (LUD-03). A bearer secret."""
        return self._randbytes(32).hex()


def id_tag_for(session_id: str) -> str:
    """The session's idTag: ``ZC`` and 18 base32 characters (90 bits) of a hash of its id.

    Upper case only, because chargers compare idTags case-insensitively."""
    digest = hashlib.sha256(b"zapcharge idTag\x00" + session_id.encode()).digest()
    body = base64.b32encode(digest).decode("ascii")
    return _ID_TAG_PREFIX + body[: ID_TAG_LENGTH - len(_ID_TAG_PREFIX)]


def looks_like_id_tag(tag: str) -> bool:
    """True for tags of our shape (compared as the charger would, ignoring case)."""
    return bool(_ID_TAG.match(tag.upper()))


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")
