"""``[drivers]`` in relays.toml and the reservation terms of ``[tariff]`` in an identity."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import DriversConfig, load_config
from tests.helpers import write_config
from tests.test_config import edit, expect_error


def test_drivers_defaults_and_values(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    defaults = load_config(write_config(tmp_path / "a"), env={}).drivers
    assert defaults == DriversConfig(6.0, 5, 60.0)
    assert defaults.notify_max_s == 21_600.0
    config = write_config(
        tmp_path / "b",
        extra="\n[drivers]\nnotify_max_hours = 1.5\nnotify_max_per_driver = 2\n"
        "notify_next_after_s = 30\n",
    )
    assert load_config(config, env={}).drivers == DriversConfig(1.5, 2, 30.0)


@pytest.mark.parametrize(
    ("line", "key", "words"),
    [
        ("notify_max_hours = 0", "drivers.notify_max_hours", "above 0"),
        ("notify_max_hours = 'six'", "drivers.notify_max_hours", "expected a number"),
        ("notify_max_per_driver = 0", "drivers.notify_max_per_driver", "at least 1"),
        ("notify_next_after_s = 0.5", "drivers.notify_next_after_s", "at least 1"),
        ("notify_hours = 6", "drivers.notify_hours", "unknown key"),
    ],
)
def test_bad_drivers_table(tmp_path: Path, line: str, key: str, words: str) -> None:
    config = write_config(tmp_path, extra=f"\n[drivers]\n{line}\n")
    expect_error(config, config, key, words)


def test_reservations_are_off_unless_both_terms_are_set(tmp_path: Path) -> None:
    tariff = load_config(write_config(tmp_path), env={}).chargers[0].tariff
    assert not tariff.reservations
    assert (tariff.reservation_minutes, tariff.reservation_fee_msat) == (None, None)


def test_reservation_terms(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    identity = tmp_path / "identities" / "cp-001.toml"
    edit(
        identity,
        "[tariff]\n",
        "[tariff]\nreservation_minutes = 7.5\nreservation_fee_msat = 300000\n",
    )
    tariff = load_config(config, env={}).chargers[0].tariff
    assert tariff.reservations
    assert (tariff.reservation_minutes, tariff.reservation_fee_msat) == (7.5, 300_000)


@pytest.mark.parametrize(
    ("lines", "key", "words"),
    [
        ("reservation_minutes = 15\n", "tariff.reservation_fee_msat", "missing"),
        ("reservation_fee_msat = 300000\n", "tariff.reservation_minutes", "missing"),
        (
            "reservation_minutes = 0\nreservation_fee_msat = 300000\n",
            "tariff.reservation_minutes",
            "above 0",
        ),
        (
            "reservation_minutes = 2000\nreservation_fee_msat = 300000\n",
            "tariff.reservation_minutes",
            "0..1440",
        ),
        (
            "reservation_minutes = 15\nreservation_fee_msat = 999\n",
            "tariff.reservation_fee_msat",
            "at least 1000",
        ),
        ("reservation_minute = 15\n", "tariff.reservation_minute", "unknown key"),
    ],
)
def test_bad_reservation_terms(tmp_path: Path, lines: str, key: str, words: str) -> None:
    config = write_config(tmp_path)
    identity = tmp_path / "identities" / "cp-001.toml"
    edit(identity, "[tariff]\n", "[tariff]\n" + lines)
    expect_error(config, identity, key, words)
