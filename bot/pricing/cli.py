"""``zapcharge price <charger-id> [--at TIME] [--offline] [--json]``: a price and its origin.

The command restores the stored feed data, fetches each feed of that charger once (unless
``--offline``), and prints the price the bot would quote at that moment. A time without a
UTC offset is read in the charger's schedule time zone, or else the machine's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from datetime import datetime, tzinfo

from bot.config import ChargerConfig, Config
from bot.config.pricing import SchedulePricing
from bot.errors import ConfigError
from bot.pricing.point import PricePoint
from bot.pricing.service import PricingService, http_fetcher
from bot.store import Database
from bot.store.pricing import PriceFeedCache

__all__ = ["main_from_args", "parse_at", "price_of"]


def _zone(charger: ChargerConfig) -> tzinfo:
    if isinstance(charger.pricing, SchedulePricing):
        return charger.pricing.zone
    zone = datetime.now().astimezone().tzinfo
    assert zone is not None  # astimezone() always attaches the local zone
    return zone


def parse_at(text: str | None, zone: tzinfo) -> datetime:
    """``--at``: ISO 8601; naive times are wall-clock times in ``zone``; None means now."""
    if text is None:
        return datetime.now(zone)
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError("--at", "", f"expected an ISO 8601 time, got {text!r}") from None
    return when if when.tzinfo is not None else when.replace(tzinfo=zone)


async def price_of(
    config: Config, charger: ChargerConfig, when: datetime, *, offline: bool
) -> PricePoint:
    db = await Database.open(config.service.database_path)
    try:
        service = PricingService.from_chargers([charger], PriceFeedCache(db))
        if not offline:
            async with http_fetcher() as fetch:
                await service.refresh_once(fetch)
        return await service.price_at(charger.id, when)
    finally:
        await db.close()


def main_from_args(config: Config, args: argparse.Namespace) -> int:
    charger = config.charger(args.id)
    if charger is None:
        raise ConfigError(str(config.service.identities_dir), args.id, "no such charger")
    zone = _zone(charger)
    when = parse_at(args.at, zone)
    point = asyncio.run(price_of(config, charger, when, offline=args.offline))
    if args.json:
        print(
            json.dumps({"charger": charger.id, "at": when.isoformat(), **point.as_json()}, indent=2)
        )
        return 0
    until = point.valid_until.astimezone(zone).isoformat() if point.valid_until else "-"
    rows = [
        ("charger", charger.id),
        ("at", when.astimezone(zone).isoformat()),
        ("price", f"{point.msat_per_kwh} msat/kWh ({point.sat_per_kwh:f} sat/kWh)"),
        ("source", point.source + (" (static fallback)" if point.fallback else "")),
        ("stale", "yes" if point.stale else "no"),
        ("valid until", until),
        ("from", point.origin),
    ]
    if point.fiat is not None:
        fiat = point.fiat
        rows.insert(
            3, ("fiat", f"{fiat.per_kwh} {fiat.currency}/kWh at {fiat.per_btc} {fiat.currency}/BTC")
        )
    for label, value in rows:
        print(f"{label:12} {value}")
    return 0
