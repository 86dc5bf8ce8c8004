"""``zapcharge watch``: an operator's live table of chargers, read from the relays only.

It reads kind 33600 status events (see docs/nip-ev.md) of any publisher, optionally only
those in one geohash cell, keeps the newest per address, hides expired ones, and redraws
the table in place on a terminal (or prints one table per update otherwise). ``--once``
prints what the relays hold now and exits; ``--json`` is the scripts' format.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TextIO

import nostr_sdk

from bot.config import RelayConfig, load_config
from bot.errors import ConfigError
from bot.nostr.events import KIND_STATUS
from bot.nostr.pool import RelayPool
from bot.table import format_table

__all__ = [
    "WatchTable",
    "WatchedCharger",
    "fetch_status_table",
    "main_from_args",
    "parse_status",
    "watch",
]

_CLEAR = "\x1b[H\x1b[2J"


@dataclass(frozen=True)
class WatchedCharger:
    pubkey: str
    charger_id: str
    name: str
    connectors: tuple[tuple[str, str, str, str], ...]  # id, status, plug type, max W
    price_msat_per_kwh: int | None
    geohash: str
    created_at: int
    expires_at: int | None

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["connectors"] = [
            {"id": c[0], "status": c[1], "type": c[2], "max_power_w": c[3]} for c in self.connectors
        ]
        return data


def parse_status(event: Mapping[str, Any]) -> WatchedCharger | None:
    """A kind 33600 event (as parsed JSON) as a table row; None if it is not one."""
    tags = [
        t
        for t in event.get("tags", [])
        if isinstance(t, list) and t and all(isinstance(v, str) for v in t)
    ]
    first = {t[0]: t[1:] for t in reversed(tags) if len(t) >= 2}
    if event.get("kind") != KIND_STATUS or "d" not in first:
        return None
    connectors = tuple(
        (t[1], t[2], t[3] if len(t) > 3 else "", t[4] if len(t) > 4 else "")
        for t in tags
        if t[0] == "connector" and len(t) >= 3
    )
    price = first.get("price", [""])
    geohashes = [t[1] for t in tags if t[0] == "g" and len(t) >= 2]
    expiration = first.get("expiration", [""])[0]
    return WatchedCharger(
        pubkey=str(event.get("pubkey", "")),
        charger_id=first["d"][0],
        name=first.get("name", [""])[0],
        connectors=connectors,
        price_msat_per_kwh=int(price[0]) if price[0].isdigit() else None,
        geohash=max(geohashes, key=len, default=""),
        created_at=int(event.get("created_at", 0)),
        expires_at=int(expiration) if expiration.isdigit() else None,
    )


class WatchTable:
    """The newest status per (publisher, charger id)."""

    def __init__(self) -> None:
        self._rows: dict[tuple[str, str], WatchedCharger] = {}

    def apply(self, charger: WatchedCharger) -> bool:
        """Keep ``charger`` if it is newer than what we hold; True if the table changed."""
        key = (charger.pubkey, charger.charger_id)
        held = self._rows.get(key)
        if held is not None and held.created_at >= charger.created_at:
            return False
        self._rows[key] = charger
        return True

    def rows(self, now: float) -> list[WatchedCharger]:
        live = [r for r in self._rows.values() if r.expires_at is None or r.expires_at > now]
        return sorted(live, key=lambda r: (r.charger_id, r.pubkey))

    def render(self, now: float) -> str:
        lines = []
        for row in self.rows(now):
            connectors = " ".join(f"{c[0]}:{c[1]}" for c in row.connectors)
            plugs = " ".join(dict.fromkeys(f"{c[2]}/{_kw(c[3])}" for c in row.connectors))
            price = "?" if row.price_msat_per_kwh is None else f"{row.price_msat_per_kwh / 1000:g}"
            age = max(0, int(now - row.created_at))
            lines.append(
                (row.charger_id, row.name, connectors, plugs, price, f"{age}s", row.geohash)
            )
        headers = ["charger", "name", "connectors", "plugs", "sat/kWh", "age", "geohash"]
        return format_table(headers, lines)


def _kw(watts: str) -> str:
    return f"{int(watts) / 1000:g}kW" if watts.isdigit() else "?"


def status_filter(geohash: str | None) -> Any:
    query = nostr_sdk.Filter().kind(nostr_sdk.Kind(KIND_STATUS))
    if geohash:
        # Exact match: our events carry every prefix up to 9 characters as its own tag.
        query = query.custom_tags(nostr_sdk.SingleLetterTag.from_byte(ord("g")), [geohash.lower()])
    return query


async def fetch_status_table(
    pool: RelayPool, geohash: str | None = None, timeout_s: float = 5.0
) -> WatchTable:
    """The chargers' newest status events stored on the pool's read relays, as a table."""
    table = WatchTable()
    for event in await pool.fetch([status_filter(geohash)], timeout_s):
        _apply(table, event)
    return table


async def watch(
    relays: Sequence[str],
    *,
    geohash: str | None = None,
    as_json: bool = False,
    once: bool = False,
    out: TextIO = sys.stdout,
    clock: Callable[[], float] = time.time,
    timeout_s: float = 5.0,
) -> int:
    pool = RelayPool([RelayConfig(url, read=True, write=False) for url in relays])
    table = WatchTable()
    if once:
        try:
            table = await fetch_status_table(pool, geohash, timeout_s)
        finally:
            await pool.close()
        rows = table.rows(clock())
        out.write(
            json.dumps([r.as_json() for r in rows], indent=2) if as_json else table.render(clock())
        )
        out.write("\n")
        return 0
    async with asyncio.TaskGroup() as group:
        group.create_task(pool.run())
        sub = await pool.subscribe([status_filter(geohash)], eose_timeout_s=timeout_s)
        _draw(table, out, clock(), as_json, None)
        while True:
            try:
                async with asyncio.timeout(5.0):
                    event = await sub.next()
            except TimeoutError:
                if not as_json and out.isatty():
                    _draw(table, out, clock(), as_json, None)  # let expired rows disappear
                continue
            changed = _apply(table, event)
            if changed is not None:
                _draw(table, out, clock(), as_json, changed)
    return 0  # pragma: no cover -- the loop only ends by cancellation


def _apply(table: WatchTable, event: Any) -> WatchedCharger | None:
    row = parse_status(json.loads(event.as_json()))
    return row if row is not None and table.apply(row) else None


def _draw(
    table: WatchTable, out: TextIO, now: float, as_json: bool, changed: WatchedCharger | None
) -> None:
    if as_json:
        if changed is not None:
            out.write(json.dumps(changed.as_json()) + "\n")
    else:
        prefix = _CLEAR if out.isatty() else ""
        stamp = time.strftime("%H:%M:%S", time.localtime(now))
        out.write(
            f"{prefix}{len(table.rows(now))} charger(s), updated {stamp}\n{table.render(now)}\n\n"
        )
    out.flush()


def main_from_args(args: argparse.Namespace) -> int:
    """``zapcharge watch``: relays from ``--relay``, else the config's read relays."""
    relays = list(args.relay or [])
    if not relays:
        config = load_config(Path(args.config))
        relays = list(config.read_relays)
        if not relays:
            raise ConfigError(str(config.path), "relay", "no read relays; pass --relay URL")
    try:
        return asyncio.run(watch(relays, geohash=args.geohash, as_json=args.json, once=args.once))
    except KeyboardInterrupt:
        return 0
