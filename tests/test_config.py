from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.config import PASSPHRASE_ENV, load_config
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
        ('listen = "127.0.0.1:0"', 'listen = "nowhere"', "ocpp.listen", "HOST:PORT"),
        ('backend = "simnode"', 'backend = "lnd"', "lightning.backend", "'cln' or 'simnode'"),
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


def test_tariff_limits_are_checked(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    identity = tmp_path / "identities" / "cp-001.toml"
    edit(identity, "max_sendable_msat = 200000000", "max_sendable_msat = 1000")
    expect_error(config, identity, "tariff.max_sendable_msat", "min_sendable_msat")
