"""One remote price document (spot prices, a fiat rate, a green forecast) and its last good state.

A :class:`Feed` holds the last document that parsed, when it was fetched, and whether the
feed is failing now. It does no I/O: the service fetches, the feed accepts or records the
failure, the book persists. Parsing is a pure function handed in, so a document restored
from the store after a restart goes through the same checks as a fresh one.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit

from bot.errors import PricingError

__all__ = ["BasisLog", "Feed", "FeedKey", "load_json", "redact_url", "when_text"]

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class FeedKey:
    """Chargers whose feeds have equal keys share one feed and one fetch."""

    kind: str  # spot, rate or green: also the store's key with the URL
    url: str
    params: tuple[str, ...] = ()  # settings that change what parses (signer, postcode, ...)


def redact_url(url: str) -> str:
    """The URL without credentials and query (API tokens live there): safe for logs."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname or ''}{port}{parts.path}"


def _no_constants(name: str) -> Any:
    raise PricingError(f"{name} is not a number we price with")


def load_json(body: str) -> Any:
    """A JSON document with every non-integer number as an exact Decimal; NaN refused."""
    try:
        return json.loads(body, parse_float=Decimal, parse_constant=_no_constants)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise PricingError(f"not JSON: {exc}") from None


def when_text(unix: float) -> str:
    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


class Feed(Generic[T]):
    """The state of one feed: last good data, when it came, and the current failure if any."""

    def __init__(
        self,
        key: FeedKey,
        parse: Callable[[str, float], T],
        *,
        refresh_s: float,
        timeout_s: float,
    ) -> None:
        self.key = key
        self.parse = parse
        self.refresh_s = refresh_s
        self.timeout_s = timeout_s
        self.data: T | None = None
        self.body: str | None = None
        self.fetched_at: float | None = None
        self.failing_since: float | None = None
        self.last_error: str | None = None
        self.failures = 0

    @property
    def label(self) -> str:
        return f"{self.key.kind} feed {redact_url(self.key.url)}"

    @property
    def fresh(self) -> bool:
        """The last fetch succeeded and its data is what we hold."""
        return self.data is not None and self.failing_since is None

    def accept(self, body: str, now: float) -> T:
        """Take a fetched document; garbage raises PricingError and counts as a failure."""
        try:
            data = self.parse(body, now)
        except PricingError as exc:
            self.fail(f"refused: {exc}", now)
            raise
        if self.failures:
            log.info("%s works again after %d failure(s)", self.label, self.failures)
        self.data, self.body, self.fetched_at = data, body, now
        self.failing_since, self.last_error, self.failures = None, None, 0
        return data

    def fail(self, error: str, now: float) -> None:
        if self.failing_since is None:
            self.failing_since = now
            held = (
                f"last good data from {when_text(self.fetched_at)}"
                if self.fetched_at
                else ("no data yet")
            )
            log.warning("%s failed (%s); %s", self.label, error, held)
        else:
            log.debug("%s still failing: %s", self.label, error)
        self.last_error = error
        self.failures += 1

    def restore(self, body: str, fetched_at: float, now: float) -> bool:
        """Take the last good document from the store; False (and logged) if it no longer parses."""
        try:
            self.data = self.parse(body, now)
        except PricingError as exc:
            log.warning(
                "%s: stored data from %s unusable: %s", self.label, when_text(fetched_at), exc
            )
            return False
        self.body, self.fetched_at = body, fetched_at
        # Until the first fetch succeeds the data is not fresh: it is from before the restart.
        self.failing_since = self.failing_since or now
        self.last_error = self.last_error or "not fetched since the restart"
        return True

    def describe(self) -> str:
        """The feed's state for a price's origin text: how old its data is, why it fails."""
        got = f"data from {when_text(self.fetched_at)}" if self.fetched_at else "no data"
        if self.failing_since is None:
            return f"{self.label}: {got}"
        since = when_text(self.failing_since)
        return f"{self.label}: {got}, failing since {since}: {self.last_error}"


class BasisLog:
    """Logs when a source's price basis changes (live, last good data, static fallback) only."""

    def __init__(self, logger: logging.Logger | logging.LoggerAdapter[logging.Logger]) -> None:
        self.logger = logger
        self.basis: str | None = None

    def note(self, basis: str, message: str) -> None:
        if basis == self.basis:
            return
        if basis != "live":
            level = logging.WARNING
        else:
            level = logging.DEBUG if self.basis is None else logging.INFO
        self.logger.log(level, "pricing %s: %s", basis, message)
        self.basis = basis
