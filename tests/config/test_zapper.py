from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.config import load_config
from bot.config.keys import generate_keys
from bot.config.zapper import parse_zapper
from bot.errors import ConfigError
from bot.nostr.events import profile_content
from tests.helpers import write_config


def with_zapper(root: Path, table: str) -> Path:
    config = write_config(root)
    identity = root / "identities" / "cp-001.toml"
    identity.write_text(identity.read_text() + "\n[zapper]\n" + table)
    return config


def test_the_zapper_table_is_read_and_the_profile_carries_its_address(tmp_path: Path) -> None:
    keys = generate_keys()
    config = load_config(
        with_zapper(
            tmp_path,
            'lightning_address = "Harbour@Pay.Example.org"\n'
            f'trusted_pubkeys = ["{keys.npub}", "{keys.public_key_hex}"]\n',
        ),
        env={},
    )
    charger = config.chargers[0]
    assert charger.zapper is not None
    assert charger.zapper.lightning_address == "harbour@pay.example.org"
    assert charger.zapper.trusted_pubkeys == (keys.public_key_hex,)  # npub and hex: one key
    assert not charger.zapper.pin_from_address
    assert charger.zapper.file.endswith("cp-001.toml")
    profile = json.loads(profile_content(charger, "https://c.example.org", "c.example.org"))
    assert profile["lud16"] == "harbour@pay.example.org"
    assert profile["nip05"] == "cp-001@c.example.org"


def test_chargers_without_a_zapper_keep_our_address(tmp_path: Path) -> None:
    charger = load_config(write_config(tmp_path), env={}).chargers[0]
    assert charger.zapper is None
    profile = json.loads(profile_content(charger, "https://c.example.org", "c.example.org"))
    assert profile["lud16"] == "cp-001@c.example.org"


def test_pinning_alone_needs_no_configured_key(tmp_path: Path) -> None:
    config = with_zapper(tmp_path, 'lightning_address = "a@b.org"\npin_from_address = true\n')
    zapper = load_config(config, env={}).chargers[0].zapper
    assert zapper is not None and zapper.pin_from_address and zapper.trusted_pubkeys == ()


@pytest.mark.parametrize(
    ("table", "key", "words"),
    [
        ('lightning_address = "not an address"\n', "zapper.lightning_address", "name@domain"),
        ('lightning_address = "a@b.org"\n', "zapper.trusted_pubkeys", "pin_from_address"),
        (
            'lightning_address = "a@b.org"\ntrusted_pubkeys = ["npub1nope"]\n',
            "zapper.trusted_pubkeys[0]",
            "npub1",
        ),
        (
            'lightning_address = "a@b.org"\ntrusted_pubkeys = "x"\n',
            "zapper.trusted_pubkeys",
            "array",
        ),
        (
            'lightning_address = "a@b.org"\npin_from_address = "yes"\n',
            "zapper.pin_from_address",
            "true or false",
        ),
        ('lightning_address = "a@b.org"\npin = true\n', "zapper.pin", "unknown key"),
    ],
)
def test_mistakes_name_the_file_and_key(tmp_path: Path, table: str, key: str, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(with_zapper(tmp_path, table), env={})
    assert info.value.key == key
    assert words in info.value.message
    assert info.value.file.endswith("cp-001.toml")


def test_a_zapper_that_is_not_a_table_is_refused() -> None:
    with pytest.raises(ConfigError, match="expected a table"):
        parse_zapper("cp.toml", "a@b.org")
