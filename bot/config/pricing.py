"""The optional ``[pricing]`` table of an identity file, parsed into frozen objects.

Without the table a charger is priced statically from its ``[tariff]``. Every mistake
raises :class:`~bot.errors.ConfigError` naming the file and the dotted key (``pricing.cap_per_kwh``,
``pricing.window[1].start``). Fiat amounts are read as :class:`~decimal.Decimal` from the
TOML text of the number, so 0.1 stays 0.1. This module imports nothing of ``bot.config``,
which calls it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.errors import ConfigError
from bot.tomlkeys import KeyReader

__all__ = [
    "DAY_NAMES",
    "GreenPricing",
    "PricingConfig",
    "RateFeed",
    "SchedulePricing",
    "SpotPricing",
    "StaticPricing",
    "Window",
    "normalise_address",
    "parse_pricing",
]

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
CLOCK = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")
ETH_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")  # a green forecast signer


@dataclass(frozen=True, slots=True)
class StaticPricing:
    price_msat_per_kwh: int
    kind: str = "static"


@dataclass(frozen=True, slots=True)
class Window:
    """Local wall-clock minutes ``[start, end)`` on ``days`` (0 = Monday); end may pass midnight."""

    days: frozenset[int]
    start_minute: int  # 0..1439
    end_minute: int  # 1..1440; not above start: the window ends on the next day
    price_msat_per_kwh: int
    label: str


@dataclass(frozen=True, slots=True)
class SchedulePricing:
    zone: ZoneInfo
    default_msat_per_kwh: int  # outside every window
    windows: tuple[Window, ...]  # the first window that covers a moment wins
    kind: str = "schedule"


@dataclass(frozen=True, slots=True)
class RateFeed:
    """An HTTP JSON document with the price of one bitcoin in fiat at ``path``."""

    url: str
    path: tuple[str, ...]
    minimum: Decimal  # answers outside [minimum, maximum] are garbage
    maximum: Decimal
    refresh_s: float = 900
    max_age_s: float = 21_600
    timeout_s: float = 10


@dataclass(frozen=True, slots=True)
class SpotPricing:
    url: str
    currency: str
    factor: Decimal
    markup_per_kwh: Decimal
    floor_per_kwh: Decimal
    cap_per_kwh: Decimal
    fallback_msat_per_kwh: int
    rate: RateFeed | None  # exactly one of rate and fiat_per_btc is set
    fiat_per_btc: Decimal | None
    refresh_s: float = 3600
    timeout_s: float = 10
    kind: str = "spot"


@dataclass(frozen=True, slots=True)
class GreenPricing:
    url: str
    signer: str  # lower-case 0x address of the trusted forecast signer
    postcode: str
    base_msat_per_kwh: int
    threshold: int  # green index at or below which there is no discount
    max_discount_percent: int  # discount at index 100
    refresh_s: float = 3600
    max_age_s: float = 172_800  # a forecast issued longer ago is not used
    timeout_s: float = 10
    kind: str = "green"


PricingConfig = StaticPricing | SchedulePricing | SpotPricing | GreenPricing


def parse_pricing(file: str, raw: Any, tariff_msat_per_kwh: int) -> PricingConfig:
    """The ``[pricing]`` table (``raw`` is None when absent) of identity file ``file``."""
    if raw is None:
        return StaticPricing(tariff_msat_per_kwh)
    if not isinstance(raw, dict):
        raise ConfigError(file, "pricing", "expected a table [pricing]")
    keys = KeyReader(file, "pricing.", raw)
    kind = keys.text("kind")
    parsers: dict[str, Callable[[KeyReader, int], PricingConfig]] = {
        "static": _static,
        "schedule": _schedule,
        "spot": _spot,
        "green": _green,
    }
    if kind not in parsers:
        raise keys.fail("kind", f"unknown kind {kind!r}; one of {', '.join(parsers)}")
    config = parsers[kind](keys, tariff_msat_per_kwh)
    keys.done()
    return config


def _static(keys: KeyReader, tariff: int) -> StaticPricing:
    return StaticPricing(keys.integer("price_msat_per_kwh", tariff, minimum=1))


def _schedule(keys: KeyReader, tariff: int) -> SchedulePricing:
    name = keys.text("timezone")
    try:
        zone = ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise keys.fail("timezone", f"unknown IANA time zone {name!r}") from None
    windows = tuple(_window(item, i) for i, item in enumerate(keys.tables("window")))
    return SchedulePricing(zone, keys.integer("default_msat_per_kwh", tariff, minimum=1), windows)


def _window(keys: KeyReader, index: int) -> Window:
    start = _minute(keys, "start", allow_24=False)
    end = _minute(keys, "end", allow_24=True)
    if start == end:
        raise keys.fail("end", "a window needs a length: end equals start")
    window = Window(
        days=_days(keys),
        start_minute=start,
        end_minute=end,
        price_msat_per_kwh=keys.integer("price_msat_per_kwh", minimum=1),
        label=keys.text("label", f"window {index}"),
    )
    keys.done()
    return window


def _minute(keys: KeyReader, name: str, *, allow_24: bool) -> int:
    text = keys.text(name)
    match = CLOCK.match(text)
    minute = int(match.group(1)) * 60 + int(match.group(2)) if match else -1
    if not 0 <= minute <= (1440 if allow_24 else 1439):
        raise keys.fail(name, f"expected HH:MM (00:00..{'24:00' if allow_24 else '23:59'})")
    return minute


def _days(keys: KeyReader) -> frozenset[int]:
    items = keys.raw("days", ["mon-sun"])
    if not isinstance(items, list) or not items or not all(isinstance(i, str) for i in items):
        raise keys.fail("days", 'expected a list such as ["mon-fri", "sun"]')
    days: set[int] = set()
    for item in items:
        first, _, last = item.lower().partition("-")
        if first not in DAY_NAMES or (last and last not in DAY_NAMES):
            raise keys.fail("days", f"unknown day {item!r}; use {', '.join(DAY_NAMES)} or a-b")
        a, b = DAY_NAMES.index(first), DAY_NAMES.index(last or first)
        days.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(b + 1)])
    return frozenset(days)


def _spot(keys: KeyReader, tariff: int) -> SpotPricing:
    currency = keys.text("currency", "EUR").upper()
    if not re.fullmatch(r"[A-Z]{3}", currency):
        raise keys.fail("currency", f"expected a 3-letter currency code, got {currency!r}")
    zero = Decimal(0)
    floor = keys.decimal("floor_per_kwh", minimum=zero)
    if floor <= 0:
        raise keys.fail("floor_per_kwh", "must be above 0: a free kWh never ends a session")
    cap = keys.decimal("cap_per_kwh")
    if cap < floor:
        raise keys.fail("cap_per_kwh", "must not be below floor_per_kwh")
    rate_url, fixed = keys.raw("rate_url", None), keys.decimal("fiat_per_btc", None, minimum=zero)
    if (rate_url is None) == (fixed is None):
        raise keys.fail("rate_url", "set exactly one of rate_url and fiat_per_btc")
    if fixed is not None and fixed <= 0:
        raise keys.fail("fiat_per_btc", "must be above 0")
    return SpotPricing(
        url=keys.url("url"),
        currency=currency,
        factor=keys.decimal("factor", Decimal(1), minimum=zero),
        markup_per_kwh=keys.decimal("markup_per_kwh", zero),
        floor_per_kwh=floor,
        cap_per_kwh=cap,
        fallback_msat_per_kwh=keys.integer("fallback_msat_per_kwh", tariff, minimum=1),
        rate=_rate(keys, currency) if rate_url is not None else None,
        fiat_per_btc=fixed,
        refresh_s=keys.seconds("refresh_s", 3600, minimum=60),
        timeout_s=keys.seconds("timeout_s", 10, minimum=1),
    )


def _rate(keys: KeyReader, currency: str) -> RateFeed:
    path = keys.text("rate_path", f"bitcoin.{currency.lower()}")
    minimum = keys.decimal("rate_min", Decimal(1000), minimum=Decimal(0))
    maximum = keys.decimal("rate_max", Decimal(10_000_000), minimum=Decimal(0))
    if minimum <= 0 or maximum <= minimum:
        raise keys.fail("rate_max", "need 0 < rate_min < rate_max")
    return RateFeed(
        url=keys.url("rate_url"),
        path=tuple(path.split(".")),
        minimum=minimum,
        maximum=maximum,
        refresh_s=keys.seconds("rate_refresh_s", 900, minimum=30),
        max_age_s=keys.seconds("rate_max_age_s", 21_600, minimum=60),
        timeout_s=keys.seconds("timeout_s", 10, minimum=1),
    )


def _green(keys: KeyReader, tariff: int) -> GreenPricing:
    try:
        signer = normalise_address(keys.text("signer"))
    except ValueError as exc:
        raise keys.fail("signer", str(exc)) from None
    postcode = keys.text("postcode")
    if not postcode.strip():
        raise keys.fail("postcode", "must not be empty")
    return GreenPricing(
        url=keys.url("url"),
        signer=signer,
        postcode=postcode.strip(),
        base_msat_per_kwh=keys.integer("base_msat_per_kwh", tariff, minimum=1),
        threshold=keys.integer("threshold", 50, minimum=0, maximum=99),
        max_discount_percent=keys.integer("max_discount_percent", 30, minimum=0, maximum=90),
        refresh_s=keys.seconds("refresh_s", 3600, minimum=60),
        max_age_s=keys.seconds("max_age_s", 172_800, minimum=3600),
        timeout_s=keys.seconds("timeout_s", 10, minimum=1),
    )


def normalise_address(text: str) -> str:
    """A ``0x`` + 40 hex digit address, lower case (mixed-case checksums are not enforced)."""
    if not ETH_ADDRESS.match(text):
        raise ValueError(f"expected 0x and 40 hex digits, got {text!r}")
    return text.lower()
