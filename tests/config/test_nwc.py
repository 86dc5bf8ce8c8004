"""[lightning] backend = "nwc": the URI file (0600, one line) and what the URI must say."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.config import load_config
from bot.config.nwc import parse_nwc_uri
from bot.errors import ConfigError
from tests.helpers import write_config

WALLET = "b889ff5b1513b641e2a139f661a661364979c5beee91842f8f0ef42ab558e9d4"
SECRET = "71a8c14c1407c113601079c4302dab36460f0ccd0ad506f1f2dc73b5100e4f3c"
URI = (
    f"nostr+walletconnect://{WALLET}?relay=wss%3A%2F%2Frelay.damus.io"
    f"&relay=ws://127.0.0.1:7000&secret={SECRET}&lud16=alice@wallet.example"
)


def _nwc_config(root: Path, uri: str | None = URI, mode: int = 0o600, extra: str = "") -> Path:
    path = write_config(root, extra=extra)
    text = path.read_text(encoding="utf-8").replace('backend = "simnode"', 'backend = "nwc"')
    path.write_text(text, encoding="utf-8")
    if uri is not None:
        uri_file = root / "wallet.nwc"
        uri_file.write_text(uri + "\n", encoding="utf-8")
        os.chmod(uri_file, mode)
    return path


def test_the_uri_is_read_relative_to_the_config_and_parsed(tmp_path: Path) -> None:
    lightning = load_config(_nwc_config(tmp_path)).lightning
    assert lightning.backend == "nwc"
    assert lightning.nwc_uri_file == tmp_path.resolve() / "wallet.nwc"
    assert lightning.nwc is not None
    assert lightning.nwc.wallet_pubkey == WALLET
    assert lightning.nwc.relays == ("wss://relay.damus.io", "ws://127.0.0.1:7000")
    assert lightning.nwc.secret == SECRET
    assert lightning.nwc.lud16 == "alice@wallet.example"


def test_the_secret_is_in_no_repr_and_no_str(tmp_path: Path) -> None:
    config = load_config(_nwc_config(tmp_path))
    assert config.lightning.nwc is not None
    for text in (repr(config), repr(config.lightning), repr(config.lightning.nwc)):
        assert SECRET not in text
    assert SECRET not in str(config.lightning.nwc)


def test_another_file_name_and_the_default_network(tmp_path: Path) -> None:
    path = _nwc_config(tmp_path, uri=None, extra='nwc_uri_file = "secrets/alby.nwc"\n')
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "alby.nwc").write_text(URI, encoding="utf-8")
    os.chmod(tmp_path / "secrets" / "alby.nwc", 0o400)
    lightning = load_config(path).lightning
    assert lightning.nwc_uri_file == tmp_path.resolve() / "secrets" / "alby.nwc"
    assert lightning.network == "bitcoin"


def test_other_backends_do_not_read_the_file(tmp_path: Path) -> None:
    # A cln config with a leftover (missing) wallet file starts as before.
    path = write_config(tmp_path, extra='nwc_uri_file = "nowhere.nwc"\n')
    lightning = load_config(path).lightning
    assert lightning.nwc is None and lightning.nwc_uri_file is None


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(_nwc_config(tmp_path, uri=None))
    assert info.value.key == "lightning.nwc_uri_file"
    assert "wallet.nwc does not exist" in str(info.value)
    assert info.value.file.endswith("relays.toml")


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660])
def test_a_file_others_can_read_is_refused_with_the_fix(tmp_path: Path, mode: int) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(_nwc_config(tmp_path, mode=mode))
    text = str(info.value)
    assert f"mode {mode:04o}" in text and "chmod 600" in text and "wallet.nwc" in text
    assert SECRET not in text


def test_more_than_one_line_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="expected one line, found 2"):
        load_config(_nwc_config(tmp_path, uri=URI + "\n" + URI))


def test_an_empty_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="expected one line, found 0"):
        load_config(_nwc_config(tmp_path, uri="  "))


@pytest.mark.parametrize(
    ("uri", "words"),
    [
        (URI.replace("nostr+walletconnect", "nostrwalletconnect"), "scheme"),
        (URI.replace(WALLET, WALLET[:-2]), "wallet public key"),
        (URI.replace(WALLET, "npub1" + WALLET[5:]), "wallet public key"),
        (f"nostr+walletconnect://{WALLET}?secret={SECRET}", "no relay="),
        (URI.replace("ws://127.0.0.1:7000", "https://relay.example"), "not a ws:// or wss://"),
        (URI.replace("ws://127.0.0.1:7000", "wss://"), "not a ws:// or wss://"),
        (URI.replace(f"&secret={SECRET}", ""), "exactly one secret="),
        (URI + f"&secret={SECRET}", "exactly one secret="),
        (URI.replace(SECRET, SECRET[:60]), "secp256k1 secret key"),
        (URI.replace(SECRET, "0" * 64), "secp256k1 secret key"),
        (URI.replace(SECRET, "f" * 64), "secp256k1 secret key"),
        (URI + "&budget=1000", "unknown parameter 'budget'"),
    ],
)
def test_a_malformed_uri_is_refused_in_one_line(tmp_path: Path, uri: str, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(_nwc_config(tmp_path, uri=uri))
    text = str(info.value)
    assert words in text and "wallet.nwc" in text and "\n" not in text
    assert SECRET not in text and SECRET[:60] not in text


def test_the_uri_without_slashes_and_in_capitals() -> None:
    parsed = parse_nwc_uri(
        f"nostr+walletconnect:{WALLET.upper()}?relay=wss://r.example&secret={SECRET.upper()}"
    )
    assert parsed.wallet_pubkey == WALLET and parsed.secret == SECRET
    assert parsed.relays == ("wss://r.example",) and parsed.lud16 is None


def test_a_relay_given_twice_is_used_once() -> None:
    parsed = parse_nwc_uri(
        f"nostr+walletconnect://{WALLET}?relay=wss://r.example&relay=wss://r.example"
        f"&secret={SECRET}"
    )
    assert parsed.relays == ("wss://r.example",)
