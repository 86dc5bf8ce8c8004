"""The [console] table: operators, token file (0600 only), session lifetime."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.config import load_config
from bot.config.keys import generate_keys
from bot.errors import ConfigError
from tests.helpers import write_config

TOKEN = "a" * 64


def _token(root: Path, mode: int, text: str = TOKEN) -> None:
    path = root / "console.token"
    path.write_text(text + "\n", encoding="utf-8")
    os.chmod(path, mode)


def test_closed_by_default(tmp_path: Path) -> None:
    console = load_config(write_config(tmp_path)).console
    assert console.operators == () and console.token is None
    assert not console.open_to_anyone


def test_operators_and_token(tmp_path: Path) -> None:
    keys = generate_keys()
    _token(tmp_path, 0o600)
    extra = f'\n[console]\noperators = ["{keys.npub}"]\ntoken_file = "console.token"\n'
    console = load_config(write_config(tmp_path, extra=extra)).console
    assert console.operators == (keys.public_key_hex,)
    assert console.token == TOKEN and console.session_minutes == 30
    assert TOKEN not in repr(console)


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660])
def test_a_token_file_others_can_read_is_refused(tmp_path: Path, mode: int) -> None:
    _token(tmp_path, mode)
    extra = '\n[console]\ntoken_file = "console.token"\n'
    with pytest.raises(ConfigError, match="readable by group or others") as info:
        load_config(write_config(tmp_path, extra=extra))
    assert info.value.key == "console.token_file"


@pytest.mark.parametrize(
    ("extra", "key", "message"),
    [
        ('operators = ["npub1nope"]', "console.operators[0]", "not a valid npub"),
        ('operators = "npub1"', "console.operators", "list of npubs"),
        ('token_file = "missing.token"', "console.token_file", "does not exist"),
        ("session_minutes = 0", "console.session_minutes", "within 1..1440"),
        ("colour = 1", "console.colour", "unknown key"),
    ],
)
def test_mistakes_name_the_key(tmp_path: Path, extra: str, key: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        load_config(write_config(tmp_path, extra=f"\n[console]\n{extra}\n"))
    assert info.value.key == key


def test_a_short_token_is_refused(tmp_path: Path) -> None:
    _token(tmp_path, 0o600, "short")
    with pytest.raises(ConfigError, match="at least 32"):
        load_config(write_config(tmp_path, extra='\n[console]\ntoken_file = "console.token"\n'))
