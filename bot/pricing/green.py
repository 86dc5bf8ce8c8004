"""Green power index (GrünstromIndex): a signed hourly forecast that lowers the price.

The document is the signed envelope of the GrünstromIndex service::

    {"hash": "0x<keccak256 of data>", "signature": "0x<r s v, 65 bytes>",
     "by": "0x<signer address>", "data": "<JSON text>"}

``data`` is JSON *text* (the exact bytes that were hashed) holding ``plz`` (postcode;
``postcode`` also accepted), ``time`` (issue time, unix ms) and ``gsi``: the hourly
``[{"epochtime": <unix s, hour start>, "eevalue": 0..100}, ...]``, as a list or, like the
original service, as JSON text (``epochtime`` may be a numeric string, as it sends it).

Checks, in order, each refusing the whole forecast: ``hash`` is keccak256 of ``data``;
``signature`` is an EIP-191 ``personal_sign`` signature (what the service's ethers wallet
makes with ``signMessage``) over the 32 hash bytes, i.e. over
keccak256("\\x19Ethereum Signed Message:\\n32" || hash); the address it recovers is ``by``
and is the configured trusted signer; the postcode is the configured one; the forecast is
not older than ``max_age_s``.

Price: with base price B, index G, threshold T and maximum discount D (percent)::

    price = B - B * D * max(0, G - T) / (100 * (100 - T))      (rounded up to whole msat)

so the discount grows linearly from 0 at G = T to D at G = 100.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

from bot.config.pricing import GreenPricing
from bot.errors import PricingError
from bot.log import charger_log
from bot.pricing.eth import keccak256, personal_message_digest, recover_address
from bot.pricing.feeds import BasisLog, Feed, load_json, when_text
from bot.pricing.point import RECHECK_AFTER, PricePoint, require_aware

__all__ = [
    "Forecast",
    "GreenHour",
    "GreenSource",
    "green_price",
    "parse_forecast",
    "verify_envelope",
]

log = logging.getLogger(__name__)
HOUR = timedelta(hours=1)
FUTURE_SKEW_S = 3600  # a forecast "issued" further ahead than this is garbage


@dataclass(frozen=True)
class GreenHour:
    start: datetime
    value: int  # 0..100: share of renewable power, as the index rates it

    @property
    def end(self) -> datetime:
        return self.start + HOUR


@dataclass(frozen=True)
class Forecast:
    postcode: str
    issued: datetime
    signer: str
    hours: tuple[GreenHour, ...]  # sorted by start, one per hour

    def at(self, when: datetime) -> GreenHour | None:
        return next((h for h in self.hours if h.start <= when < h.end), None)


def _hex(envelope: dict[str, Any], name: str, size: int) -> bytes:
    value = envelope.get(name)
    if not isinstance(value, str) or not value.startswith("0x") or len(value) != 2 + 2 * size:
        raise PricingError(f"{name} must be 0x and {2 * size} hex digits")
    try:
        return bytes.fromhex(value[2:])
    except ValueError:
        raise PricingError(f"{name} must be 0x and {2 * size} hex digits") from None


def verify_envelope(body: str, signer: str) -> str:
    """The ``data`` text of a signed envelope whose hash and signature check out."""
    envelope = load_json(body)
    if not isinstance(envelope, dict) or not isinstance(envelope.get("data"), str):
        raise PricingError('expected {"hash", "signature", "by", "data": "<JSON text>"}')
    data: str = envelope["data"]
    if keccak256(data.encode("utf-8")) != _hex(envelope, "hash", 32):
        raise PricingError("hash does not match data: the forecast was altered")
    claimed = "0x" + _hex(envelope, "by", 20).hex()
    recovered = recover_address(
        personal_message_digest(_hex(envelope, "hash", 32)), _hex(envelope, "signature", 65)
    )
    if recovered != claimed:
        raise PricingError(f"signature is by {recovered}, not by {claimed} as claimed")
    if recovered != signer:
        raise PricingError(f"signed by {recovered}, not by the trusted signer {signer}")
    return data


def parse_forecast(body: str, config: GreenPricing, now: float) -> Forecast:
    """Verify and parse a signed forecast for ``config``; PricingError refuses it."""
    data = load_json(verify_envelope(body, config.signer))
    if not isinstance(data, dict):
        raise PricingError("data is not a JSON object")
    postcode = str(data.get("plz", data.get("postcode", "")))
    if postcode != config.postcode:
        raise PricingError(f"forecast is for postcode {postcode!r}, not {config.postcode!r}")
    issued_ms = data.get("time")
    if isinstance(issued_ms, bool) or not isinstance(issued_ms, int):
        raise PricingError("data.time is not integer milliseconds")
    issued = issued_ms / 1000
    if now - issued > config.max_age_s:
        raise PricingError(f"forecast issued {when_text(issued)} is older than max_age_s")
    if issued - now > FUTURE_SKEW_S:
        raise PricingError(f"forecast issued in the future ({when_text(issued)})")
    hours = _hours(data.get("gsi"))
    return Forecast(postcode, datetime.fromtimestamp(issued, UTC), config.signer, hours)


def _hours(items: Any) -> tuple[GreenHour, ...]:
    if isinstance(items, str):
        items = load_json(items)  # the original service nests the list as JSON text
    if not isinstance(items, list) or not items:
        raise PricingError("data.gsi is not a non-empty list")
    hours: dict[int, GreenHour] = {}
    for index, item in enumerate(items):
        epoch = item.get("epochtime") if isinstance(item, dict) else None
        value = item.get("eevalue") if isinstance(item, dict) else None
        if isinstance(epoch, str) and epoch.isdigit():
            epoch = int(epoch)
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch in hours:
            raise PricingError(f"gsi[{index}].epochtime is not a new unix time in seconds")
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
            raise PricingError(f"gsi[{index}].eevalue is not an integer 0..100")
        hours[epoch] = GreenHour(datetime.fromtimestamp(epoch, UTC), value)
    ordered = tuple(hours[k] for k in sorted(hours))
    for before, after in pairwise(ordered):
        if after.start < before.end:
            raise PricingError(f"forecast hours overlap at {after.start.isoformat()}")
    return ordered


def green_price(config: GreenPricing, value: int) -> int:
    """The discounted price for green index ``value`` (see the module docstring)."""
    base, threshold = config.base_msat_per_kwh, config.threshold
    above = max(0, value - threshold)
    discount = base * config.max_discount_percent * above // (100 * (100 - threshold))
    return max(1, base - discount)


class GreenSource:
    """Prices from the verified forecast; falls back to the last good one, then the base price."""

    name = "green"

    def __init__(
        self,
        charger_id: str,
        config: GreenPricing,
        feed: Feed[Forecast],
        clock: Callable[[], float],
    ) -> None:
        self.config, self.feed, self.clock = config, feed, clock
        self.basis = BasisLog(charger_log(log, charger_id))

    async def price_at(self, when: datetime) -> PricePoint:
        when = require_aware(when)
        forecast = self.feed.data
        too_old = forecast is None or self.clock() - forecast.issued.timestamp() > (
            self.config.max_age_s
        )
        hour = forecast.at(when) if forecast is not None and not too_old else None
        if hour is None:
            return self._fallback(when, f"no usable forecast for that hour; {self.feed.describe()}")
        price = green_price(self.config, hour.value)
        origin = (
            f"GrünstromIndex {hour.value} for {self.config.postcode}"
            f" {hour.start:%H:%M}-{hour.end:%H:%M}Z: {price} of base"
            f" {self.config.base_msat_per_kwh} msat/kWh"
        )
        stale = not self.feed.fresh
        if stale:
            origin += f"; last good forecast: {self.feed.describe()}"
        self.basis.note("last good data" if stale else "live", origin)
        return PricePoint(price, self.name, origin, stale, hour.end)

    def _fallback(self, when: datetime, why: str) -> PricePoint:
        origin = f"base price without green discount: {why}"
        self.basis.note("static fallback", origin)
        price = self.config.base_msat_per_kwh
        return PricePoint(price, self.name, origin, True, when + RECHECK_AFTER, fallback=True)
