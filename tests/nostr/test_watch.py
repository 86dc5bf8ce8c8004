from __future__ import annotations

import asyncio
import io
import json
import sys
import time
from pathlib import Path

import nostr_sdk
import pytest

from bot.cli import main
from bot.config import ChargerConfig, Connector
from bot.nostr.events import ChargerSnapshot, ConnectorState, sign_event, status_tags
from bot.nostr.relay import LocalRelay
from bot.nostr.watch import WatchTable, parse_status, watch
from tests.helpers import scaled
from tests.nostr.support import Driver, make_charger, nostr_config, wait_until


def status_event(charger: ChargerConfig, *statuses: str, created_at: int, ttl: int = 600) -> str:
    connectors = tuple(
        ConnectorState(c.id, s, c.type, c.max_power_w)
        for c, s in zip(charger.connectors, statuses, strict=True)
    )
    snapshot = ChargerSnapshot(charger.id, charger.name, True, connectors, 250_000)
    pubkey = charger.keys.public_key_hex
    tags = status_tags(pubkey, charger, snapshot, created_at + ttl)
    return sign_event(charger.keys, 33600, "", tags, created_at)


MUNICH = make_charger()
BERLIN = make_charger(
    id="cp-berlin",
    name="Berlin",
    lat=52.52,
    lon=13.405,
    connectors=(Connector(1, "CCS2", 150000),),
)


def test_a_status_event_becomes_a_row() -> None:
    now = int(time.time())
    row = parse_status(json.loads(status_event(MUNICH, "Available", "Charging", created_at=now)))
    assert row is not None
    assert (row.charger_id, row.name, row.price_msat_per_kwh, row.geohash) == (
        "cp-001",
        "Harbour charger 1",
        250_000,
        "u281z7j5e",
    )
    assert row.connectors == (
        ("1", "Available", "Type2", "22000"),
        ("2", "Charging", "CCS2", "50000"),
    )
    assert row.expires_at == now + 600
    assert parse_status({"kind": 1, "tags": [["d", "x"]]}) is None
    assert parse_status({"kind": 33600, "tags": [["name", "no d"]]}) is None
    assert parse_status({"kind": 33600, "tags": [["d", "x"], ["price", "lots"], 5]}) is not None


def test_the_table_keeps_the_newest_and_hides_expired() -> None:
    now = int(time.time())
    table = WatchTable()
    newer = parse_status(json.loads(status_event(MUNICH, "Charging", "Available", created_at=now)))
    older = parse_status(json.loads(status_event(MUNICH, "Faulted", "Faulted", created_at=now - 5)))
    dead = parse_status(json.loads(status_event(BERLIN, "Available", created_at=now - 100, ttl=50)))
    assert newer and older and dead
    assert table.apply(newer) and not table.apply(older) and table.apply(dead)
    assert [r.charger_id for r in table.rows(now)] == ["cp-001"]
    text = table.render(now)
    assert "1:Charging 2:Available" in text and "Type2/22kW CCS2/50kW" in text
    assert "250" in text and "u281z7j5e" in text


async def publish_both(relay: LocalRelay) -> None:
    now = int(time.time())
    async with Driver([relay.url]) as driver:
        for charger, status in ((MUNICH, ("Available", "Charging")), (BERLIN, ("Faulted",))):
            event = nostr_sdk.Event.from_json(status_event(charger, *status, created_at=now))
            await driver.publish(event)


async def test_once_prints_the_chargers_in_a_geohash_cell(relay: LocalRelay) -> None:
    await publish_both(relay)
    out = io.StringIO()
    assert await watch([relay.url], geohash="u28", once=True, out=out) == 0
    assert "cp-001" in out.getvalue() and "cp-berlin" not in out.getvalue()
    out = io.StringIO()
    await watch([relay.url], once=True, as_json=True, out=out)
    rows = json.loads(out.getvalue())
    assert [r["charger_id"] for r in rows] == ["cp-001", "cp-berlin"]
    assert rows[1]["connectors"] == [
        {"id": "1", "status": "Faulted", "type": "CCS2", "max_power_w": "150000"}
    ]


async def test_live_mode_prints_each_change(relay: LocalRelay) -> None:
    out = io.StringIO()
    task = asyncio.create_task(watch([relay.url], as_json=True, out=out))
    try:
        await asyncio.sleep(0.5)  # let it subscribe before anything is published
        await publish_both(relay)
        await wait_until(lambda: _lines(out, 2), what="two updates")
        seen = {json.loads(line)["charger_id"] for line in out.getvalue().splitlines()}
        assert seen == {"cp-001", "cp-berlin"}
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def _lines(out: io.StringIO, n: int) -> bool:
    return len(out.getvalue().splitlines()) >= n


async def test_the_cli_command(relay: LocalRelay) -> None:
    await publish_both(relay)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "watch",
        "--relay",
        relay.url,
        "--geohash",
        "u33",
        "--once",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), scaled(30))
    assert process.returncode == 0, stderr.decode()
    lines = stdout.decode().splitlines()
    assert lines[0].split() == [
        "charger",
        "name",
        "connectors",
        "plugs",
        "sat/kWh",
        "age",
        "geohash",
    ]
    assert len(lines) == 3 and lines[2].startswith("cp-berlin")


def test_without_relays_watch_says_what_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = nostr_config(tmp_path, [])
    assert main(["--config", str(config.path), "watch", "--once"]) == 2
    assert "no read relays; pass --relay URL" in capsys.readouterr().err
