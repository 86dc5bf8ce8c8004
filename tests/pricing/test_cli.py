"""``zapcharge price`` end to end: config files, the store, and a feed on 127.0.0.1."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.cli import main
from tests.helpers import write_config
from tests.pricing.feeds import FeedServer, spot_document


def add_pricing(root: Path, table: str) -> Path:
    identity = root / "identities" / "cp-001.toml"
    identity.write_text(identity.read_text() + "\n[pricing]\n" + table)
    return identity


def test_price_of_a_schedule_at_a_local_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path)
    add_pricing(
        tmp_path,
        'kind = "schedule"\ntimezone = "Europe/Berlin"\n'
        '[[pricing.window]]\nlabel = "night"\nstart = "22:00"\nend = "06:00"\n'
        "price_msat_per_kwh = 150000\n",
    )
    args = ["--config", str(config), "price", "cp-001", "--at", "2024-03-31T01:30", "--json"]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["msat_per_kwh"] == 150_000 and out["source"] == "schedule"
    assert out["at"] == "2024-03-31T01:30:00+01:00"
    assert out["valid_until"] == "2024-03-31T06:00:00+02:00"
    assert "'night'" in out["origin"]


def test_price_of_a_spot_charger_live_then_offline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    with FeedServer().in_thread() as server:
        server.set("/spot", spot_document(hour, [100, 100]))
        config = write_config(tmp_path)
        add_pricing(
            tmp_path,
            f'kind = "spot"\nurl = "{server.url("/spot")}"\nfloor_per_kwh = 0.1\n'
            "cap_per_kwh = 0.6\nmarkup_per_kwh = 0.2\nfiat_per_btc = 60000\n",
        )
        assert main(["--config", str(config), "price", "cp-001"]) == 0
        out = capsys.readouterr().out
        assert "500000 msat/kWh (500 sat/kWh)" in out and "stale        no" in out
        assert "0.3 EUR/kWh at 60000 EUR/BTC" in out
        server.set("/spot", "gone", status=404)
    at = (hour + timedelta(minutes=70)).isoformat()
    assert main(["--config", str(config), "price", "cp-001", "--offline", "--at", at]) == 0
    out = capsys.readouterr().out
    assert "500000 msat/kWh" in out and "stale        yes" in out
    assert "not fetched since the restart" in out


def test_unknown_charger_and_bad_time(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path)
    assert main(["--config", str(config), "price", "cp-404"]) == 2
    assert main(["--config", str(config), "price", "cp-001", "--at", "noon"]) == 2
    err = capsys.readouterr().err
    assert "no such charger" in err and "ISO 8601" in err
