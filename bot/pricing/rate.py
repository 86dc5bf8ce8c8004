"""The fiat exchange rate: fiat per bitcoin, from a fixed setting or an HTTP JSON feed.

The feed's document is any JSON; ``rate_path`` is a dotted path to the number (list
indices allowed), e.g. ``bitcoin.eur`` for ``{"bitcoin": {"eur": 61234.5}}`` or
``result.XXBTZEUR.c.0`` for an exchange ticker. The value may be a number or a numeric
string. Answers outside ``[rate_min, rate_max]`` are refused as garbage: a rate off by a
factor of a thousand would price a kWh a thousand times too high or too low.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Protocol

from bot.config.pricing import RateFeed
from bot.errors import PricingError
from bot.pricing.feeds import Feed, load_json, redact_url, when_text

__all__ = ["FeedRate", "FixedRate", "Rate", "RateProvider", "parse_rate"]


@dataclass(frozen=True)
class Rate:
    per_btc: Decimal
    origin: str
    stale: bool


class RateProvider(Protocol):
    def current(self, now: float) -> Rate | None: ...

    def describe(self) -> str: ...


def parse_rate(body: str, feed: RateFeed) -> Decimal:
    """The rate at ``feed.path`` in ``body``; PricingError for anything else."""
    node = load_json(body)
    for step in feed.path:
        if isinstance(node, dict) and step in node:
            node = node[step]
        elif isinstance(node, list) and step.isdigit() and int(step) < len(node):
            node = node[int(step)]
        else:
            raise PricingError(f"no {'.'.join(feed.path)} in the rate document")
    if isinstance(node, bool) or not isinstance(node, int | Decimal | str):
        raise PricingError(f"rate is not a number: {node!r}")
    try:
        rate = Decimal(node)
    except InvalidOperation:
        raise PricingError(f"rate is not a number: {node!r}") from None
    if not rate.is_finite() or not feed.minimum <= rate <= feed.maximum:
        raise PricingError(f"rate {rate} outside the plausible {feed.minimum}..{feed.maximum}")
    return rate


class FixedRate:
    """The configured ``fiat_per_btc``: never stale."""

    def __init__(self, per_btc: Decimal, currency: str) -> None:
        self.rate = Rate(per_btc, f"configured rate {per_btc} {currency}/BTC", stale=False)

    def current(self, now: float) -> Rate | None:
        del now
        return self.rate

    def describe(self) -> str:
        return self.rate.origin


class FeedRate:
    """The feed's rate while it is younger than ``max_age_s``; None when there is none."""

    def __init__(self, feed: Feed[Decimal], config: RateFeed, currency: str) -> None:
        self.feed, self.config, self.currency = feed, config, currency

    def current(self, now: float) -> Rate | None:
        feed = self.feed
        if feed.data is None or feed.fetched_at is None:
            return None
        if now - feed.fetched_at > self.config.max_age_s:
            return None
        origin = (
            f"{feed.data} {self.currency}/BTC from {redact_url(self.config.url)}"
            f" at {when_text(feed.fetched_at)}"
        )
        return Rate(feed.data, origin, stale=not feed.fresh)

    def describe(self) -> str:
        return self.feed.describe()
