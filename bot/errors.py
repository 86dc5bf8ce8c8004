"""The one exception tree of Zapcharge.

::

    ZapchargeError
    ├── ConfigError            a config or key file is wrong; names the file and the key
    ├── StartupError           a part cannot start (port in use, no node socket); names the fix
    ├── StoreError             the SQLite store failed or holds something impossible
    ├── LightningError         the Lightning backend refused or failed (carries the CLN code)
    │   ├── LightningUnavailable   the node could not be reached: retry, never "failed"
    │   └── NwcProtocolError       a NIP-47 message (or its encryption) is malformed
    ├── OcppError              a charger answered with a CALLERROR or did not answer
    │   └── ChargerOffline     the charger is not connected
    ├── NostrError             relays, signing, encryption
    ├── LnurlError             an LNURL request is refused; ``reason`` goes on the wire
    │   └── ZapInvalid         a zap request or receipt breaks a NIP-57 rule; ``code`` names it
    ├── PricingError           a price feed sent something unusable (garbage, bad signature)
    │   └── PriceFeedUnavailable   the feed could not be reached: retry, use the last good data
    ├── SessionError           the charging session cannot do what was asked
    │   └── IllegalTransition  a state change that the session table does not allow
    └── ConsoleError           the operator's console refused a request or could not be reached
        └── AuthRefused        no valid log-in (status 401) or not an operator (403)

Code that decides between "retry" and "give up" asks :func:`is_retryable`; nothing else
inspects exception types for that purpose (tests/test_errors.py checks that no module does).
"""

from __future__ import annotations

__all__ = [
    "AuthRefused",
    "ChargerOffline",
    "ConfigError",
    "ConsoleError",
    "IllegalTransition",
    "LightningError",
    "LightningUnavailable",
    "LnurlError",
    "NostrError",
    "NwcProtocolError",
    "OcppError",
    "PriceFeedUnavailable",
    "PricingError",
    "SessionError",
    "StartupError",
    "StoreError",
    "ZapInvalid",
    "ZapchargeError",
    "is_retryable",
]


class ZapchargeError(Exception):
    """Root of every error this package raises on purpose."""


class ConfigError(ZapchargeError):
    """A configuration mistake, reported with the file and the key it is about."""

    def __init__(self, file: str, key: str, message: str) -> None:
        self.file = file
        self.key = key
        self.message = message
        super().__init__(f"{file}: {key}: {message}" if key else f"{file}: {message}")


class StartupError(ZapchargeError):
    """Something the bot needs at start is not there; the message names it and the fix."""


class StoreError(ZapchargeError):
    """The store could not do what was asked."""


class LightningError(ZapchargeError):
    """The Lightning node refused a call; ``code`` is Core Lightning's error code when known."""

    def __init__(self, message: str, code: int | None = None) -> None:
        self.code = code
        super().__init__(message if code is None else f"{message} (code {code})")


class LightningUnavailable(LightningError):
    """The node could not be reached. Never a definite payment failure."""


class NwcProtocolError(LightningError):
    """A Nostr Wallet Connect message is malformed: bad JSON, wrong types, missing fields, or
    a payload that does not decrypt. The wallet's words are unusable, so this is no outage:
    not retryable by itself (a client that lost track of a payment treats it as unknown)."""


class OcppError(ZapchargeError):
    """A call to a charger failed; ``code`` is the OCPP-J error code when it answered one."""

    def __init__(self, message: str, code: str | None = None) -> None:
        self.code = code
        super().__init__(message if code is None else f"{message} ({code})")


class ChargerOffline(OcppError):
    """The charger is not connected right now."""


class NostrError(ZapchargeError):
    """Relay, signing or encryption trouble."""


class LnurlError(ZapchargeError):
    """An LNURL request is refused; ``reason`` is what the wallet is told."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class PricingError(ZapchargeError):
    """A price feed answered with something we refuse to price from."""


class PriceFeedUnavailable(PricingError):
    """A price feed could not be reached or answered with an HTTP error."""


class ZapInvalid(LnurlError):
    """A zap request (kind 9734) or zap receipt (kind 9735) fails a NIP-57 check.

    ``code`` is a short stable name of the rule (``"p-tag"``, ``"amount-mismatch"``...) for
    logs, metrics and tests; ``reason`` is the sentence a wallet or operator reads.
    """

    def __init__(self, code: str, reason: str) -> None:
        self.code = code
        super().__init__(reason)


class SessionError(ZapchargeError):
    """A charging session cannot do what was asked."""


class IllegalTransition(SessionError):
    """The session table has no such transition."""

    def __init__(
        self, current: str, target: str | None = None, *, event: str | None = None
    ) -> None:
        self.current = current
        self.target = target
        self.event = event
        if target is None:
            super().__init__(f"illegal session event {event} in state {current}")
        else:
            via = f" on {event}" if event else ""
            super().__init__(f"illegal session transition {current} -> {target}{via}")


class ConsoleError(ZapchargeError):
    """The console refused a request (``status`` is its HTTP status) or was not reachable."""

    def __init__(self, message: str, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)


class AuthRefused(ConsoleError):
    """No valid credentials (401) or valid ones of someone who is not an operator (403).

    ``reason`` is for the log and the caller; it never holds a credential.
    """

    def __init__(self, reason: str, status: int = 401) -> None:
        self.reason = reason
        super().__init__(reason, status)


def is_retryable(error: BaseException) -> bool:
    """True when trying the same thing again later may succeed (outages, timeouts)."""
    if isinstance(error, LightningUnavailable | ChargerOffline | PriceFeedUnavailable):
        return True
    if isinstance(error, OcppError):
        return error.code is None  # no answer at all: a timeout, not a refusal
    return isinstance(error, OSError | TimeoutError | NostrError)
