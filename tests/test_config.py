from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest

from bot.config import PASSPHRASE_ENV, SessionsConfig, load_config
from bot.errors import ConfigError
from tests.helpers import write_config


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def expect_error(config: Path, file: Path, key: str, words: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_config(config, env={})
    error = info.value
    assert error.file == str(file.resolve()) or error.file == str(file)
    assert error.key == key
    assert re.search(words, error.message), error.message
    assert str(file.name) in str(error) and key in str(error)
    return error


def test_valid_config_is_parsed_into_frozen_objects(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, chargers=("cp-001", "cp-002")), env={})
    assert [c.id for c in config.chargers] == ["cp-001", "cp-002"]
    assert config.service.domain == "charge.example.org"
    assert config.service.data_dir == tmp_path / "data"
    assert config.lightning.rpc_path == tmp_path / "ln" / "regtest" / "lightning-rpc"
    assert config.read_relays == ("ws://127.0.0.1:7777",)
    assert config.relays[0].max_events_per_s == 500
    charger = config.chargers[0]
    assert charger.connectors[0].type == "Type2"
    assert charger.keys.npub.startswith("npub1")
    with pytest.raises(AttributeError):
        charger.name = "other"  # type: ignore[misc]
    assert "ocpp_password" not in repr(charger)


def test_missing_key(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    edit(config, 'public_url = "https://charge.example.org"\n', "")
    expect_error(config, config, "service.public_url", "missing")


def test_wrong_type(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    identity = tmp_path / "identities" / "cp-001.toml"
    edit(identity, "max_power_w = 22000", 'max_power_w = "22 kW"')
    expect_error(config, identity, "connector[0].max_power_w", "expected an integer")


def test_unknown_key(tmp_path: Path) -> None:
    config = write_config(tmp_path, extra="colour = 'blue'\n")
    expect_error(config, config, "lightning.colour", "unknown key")


def test_unknown_key_in_identity(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    identity = tmp_path / "identities" / "cp-001.toml"
    edit(identity, "[tariff]\n", "[tariff]\nprice_per_kwh = 3\n")
    expect_error(config, identity, "tariff.price_per_kwh", "unknown key")


def test_an_identity_may_pin_its_ocpp_version(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    identity = tmp_path / "identities" / "cp-001.toml"
    assert load_config(config, env={}).chargers[0].ocpp_version is None  # as offered
    edit(identity, "lat = 48.1372", 'lat = 48.1372\nocpp_version = "2.0.1"')
    assert load_config(config, env={}).chargers[0].ocpp_version == "2.0.1"
    edit(identity, 'ocpp_version = "2.0.1"', 'ocpp_version = "2.0"')
    expect_error(config, identity, "ocpp_version", 'use "1.6" or "2.0.1"')


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [("lat = 48.1372", "lat = 91.0", "lat"), ("lon = 11.5756", "lon = -180.5", "lon")],
)
def test_bad_coordinates(tmp_path: Path, old: str, new: str, key: str) -> None:
    config = write_config(tmp_path)
    identity = tmp_path / "identities" / "cp-001.toml"
    edit(identity, old, new)
    expect_error(config, identity, key, "must be within")


def test_duplicate_charger_id(tmp_path: Path) -> None:
    # The usual way to get one: copy an identity file and forget to change its id.
    config = write_config(tmp_path)
    identities = tmp_path / "identities"
    copy = identities / "cp-002.toml"
    copy.write_text((identities / "cp-001.toml").read_text())
    error = expect_error(config, copy, "id", "duplicate charger id 'cp-001'")
    assert "cp-001.toml" in error.message


def test_unreadable_key_file(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    (tmp_path / "identities" / "cp-001.key").unlink()
    identity_key = tmp_path / "identities" / "cp-001.key"
    expect_error(config, identity_key, "key_file", "does not exist")


def test_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    key = tmp_path / "identities" / "cp-001.key"
    key.chmod(0o644)
    error = expect_error(config, key, "key_file", "accessible by others")
    assert "nsec" not in str(error)


def test_garbage_key_file_does_not_echo_its_contents(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    key = tmp_path / "identities" / "cp-001.key"
    key.write_text("nsec1thisisnotakeybutlookssecret\n")
    error = expect_error(config, key, "key_file", "not a valid secret key")
    assert "thisisnotakey" not in str(error)


def test_encrypted_key_without_passphrase(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    key = tmp_path / "identities" / "cp-001.key"
    key.write_text(
        "ncryptsec1qgg9947rlpvqu76pj5ecreduf9jxhselq2nae2kghhvd5g7dgjtcxfqtd67p9m0w57lspw8gsq6yphnm8623nsl8xn9j4jdzz84zm3frztj3z7s35vpzmqf6ksu8r89qk5z2zxfmu5gv8th8wclt0h4p\n"
    )
    expect_error(config, key, "key_file", PASSPHRASE_ENV)


def test_toml_syntax_error_names_the_file(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    config.write_text(config.read_text() + "\n[service\n")
    with pytest.raises(ConfigError) as info:
        load_config(config, env={})
    assert info.value.file == str(config.resolve())
    assert "not valid TOML" in info.value.message


def test_missing_identities_dir(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    edit(config, 'identities_dir = "identities"', 'identities_dir = "nowhere"')
    with pytest.raises(ConfigError) as info:
        load_config(config, env={})
    assert info.value.key == "service.identities_dir"


@pytest.mark.parametrize(
    ("old", "new", "key", "words"),
    [
        ('url = "ws://127.0.0.1:7777"', 'url = "http://relay"', "relay[0].url", "ws://"),
        (
            'url = "ws://127.0.0.1:7777"',
            'url = "ws://127.0.0.1:7777"\nmax_events_per_s = 0',
            "relay[0].max_events_per_s",
            "within 1..100000",
        ),
        ('listen = "127.0.0.1:0"', 'listen = "nowhere"', "ocpp.listen", "HOST:PORT"),
        (
            'backend = "simnode"',
            'backend = "lnd"',
            "lightning.backend",
            "'cln', 'simnode' or 'nwc'",
        ),
        (
            'public_url = "https://charge.example.org"',
            'public_url = "charge"',
            "service.public_url",
            "http",
        ),
    ],
)
def test_bad_values_in_relays_toml(
    tmp_path: Path, old: str, new: str, key: str, words: str
) -> None:
    config = write_config(tmp_path)
    edit(config, old, new)
    expect_error(config, config, key, words)


def test_a_relays_pace_is_read(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    edit(
        config, 'url = "ws://127.0.0.1:7777"', 'url = "ws://127.0.0.1:7777"\nmax_events_per_s = 20'
    )
    assert load_config(config, env={}).relays[0].max_events_per_s == 20


def test_tariff_limits_are_checked(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    identity = tmp_path / "identities" / "cp-001.toml"
    edit(identity, "max_sendable_msat = 200000000", "max_sendable_msat = 1000")
    expect_error(config, identity, "tariff.max_sendable_msat", "min_sendable_msat")


def test_tariff_defaults_keep_old_files_working(tmp_path: Path) -> None:
    tariff = load_config(write_config(tmp_path), env={}).chargers[0].tariff
    assert (tariff.per_minute_msat, tariff.idle_fee_msat_per_minute) == (0, 0)
    assert tariff.idle_grace_minutes == 10
    assert tariff.fiat is None and tariff.currency == "msat"


def test_tariff_time_and_idle_fees(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    identity = tmp_path / "identities" / "cp-001.toml"
    edit(
        identity,
        "[tariff]\n",
        "[tariff]\nper_minute_msat = 100\nidle_fee_msat_per_minute = 5000\n"
        "idle_grace_minutes = 15\n",
    )
    tariff = load_config(config, env={}).chargers[0].tariff
    assert (tariff.per_minute_msat, tariff.idle_fee_msat_per_minute) == (100, 5000)
    assert tariff.idle_grace_minutes == 15


def fiat_identity(tmp_path: Path, prices: str) -> tuple[Path, Path]:
    config = write_config(tmp_path)
    identity = tmp_path / "identities" / "cp-001.toml"
    text = identity.read_text()
    start = text.index("price_msat_per_kwh")
    end = text.index("\n", text.index("session_fee_msat", start)) + 1
    identity.write_text(text[:start] + prices + text[end:])
    return config, identity


def test_fiat_tariff_is_converted_at_the_configured_rate(tmp_path: Path) -> None:
    config, _ = fiat_identity(
        tmp_path,
        'currency = "EUR"\nmsat_per_fiat_unit = 1600001\nfiat_price_per_kwh = 0.35\n'
        'fiat_session_fee = "0.50"\nfiat_per_minute = 0.01\nfiat_idle_fee_per_minute = 0.1\n',
    )
    tariff = load_config(config, env={}).chargers[0].tariff
    assert tariff.currency == "EUR" and tariff.fiat is not None
    assert tariff.fiat.price_per_kwh == Decimal("0.35")  # exact, not 0.34999...
    assert tariff.fiat.session_fee == Decimal("0.50")
    # msat fields hold the converted prices, rounded down.
    assert tariff.price_msat_per_kwh == 560_000
    assert tariff.session_fee_msat == 800_000
    assert tariff.per_minute_msat == 16_000
    assert tariff.idle_fee_msat_per_minute == 160_000


@pytest.mark.parametrize(
    ("prices", "key", "words"),
    [
        ('currency = "euro"\n', "tariff.currency", "ISO 4217"),
        ('currency = "EUR"\nfiat_price_per_kwh = 0.3\n', "tariff.msat_per_fiat_unit", "missing"),
        ('currency = "EUR"\nmsat_per_fiat_unit = 5\n', "tariff.fiat_price_per_kwh", "missing"),
        (
            'currency = "EUR"\nmsat_per_fiat_unit = 5\nfiat_price_per_kwh = -1\n',
            "tariff.fiat_price_per_kwh",
            "at least 0",
        ),
        (
            'currency = "EUR"\nmsat_per_fiat_unit = 5\nfiat_price_per_kwh = "lots"\n',
            "tariff.fiat_price_per_kwh",
            "expected a number",
        ),
        (
            'currency = "EUR"\nmsat_per_fiat_unit = 5\nfiat_price_per_kwh = 0.1\n',
            "tariff.fiat_price_per_kwh",
            "less than 1 msat",
        ),
        (
            'currency = "EUR"\nmsat_per_fiat_unit = 5\nfiat_price_per_kwh = 1\n'
            "price_msat_per_kwh = 5\n",
            "tariff.price_msat_per_kwh",
            "not allowed",
        ),
        (
            "price_msat_per_kwh = 5\nfiat_price_per_kwh = 1\n",
            "tariff.fiat_price_per_kwh",
            "unknown",
        ),
    ],
)
def test_bad_fiat_tariffs(tmp_path: Path, prices: str, key: str, words: str) -> None:
    config, identity = fiat_identity(tmp_path, prices)
    expect_error(config, identity, key, words)


def test_sessions_table_defaults_and_values(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    assert load_config(write_config(tmp_path / "a"), env={}).sessions == SessionsConfig()
    config = write_config(
        tmp_path / "b",
        extra="\n[sessions]\nstart_timeout_s = 60\nprogress_every_wh = 2000\n"
        "progress_every_s = 300\ndisconnect_timeout_s = 120\nstop_timeout_s = 90\n"
        "sample_interval_s = 10\nstop_latency_s = 5\nrefund_max_fee_msat = 2000\n"
        "refund_max_fee_ppm = 1000\nwithdraw_expiry_s = 86400\n",
    )
    sessions = load_config(config, env={}).sessions
    assert sessions == SessionsConfig(60, 2000, 300, 120, 90, 10, 5, 2000, 1000, 86400)
    assert sessions.refund_max_fee(1_000_000) == 2000
    assert sessions.refund_max_fee(10_000_000) == 10_000


@pytest.mark.parametrize(
    ("line", "key", "words"),
    [
        ("start_timeout_s = 1", "sessions.start_timeout_s", "at least 10"),
        ("sample_interval_s = 0", "sessions.sample_interval_s", "at least 1"),
        ("withdraw_expiry_s = 'week'", "sessions.withdraw_expiry_s", "expected an integer"),
        ("stop_after = 5", "sessions.stop_after", "unknown key"),
    ],
)
def test_bad_sessions_table(tmp_path: Path, line: str, key: str, words: str) -> None:
    config = write_config(tmp_path, extra=f"\n[sessions]\n{line}\n")
    expect_error(config, config, key, words)
