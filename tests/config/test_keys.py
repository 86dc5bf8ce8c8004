from __future__ import annotations

import logging
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config.keys import generate_keys, load_key_file, npub_to_hex
from bot.errors import ConfigError
from bot.nostr.keys import write_key_file


def test_key_file_is_created_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "cp.key"
    keys = generate_keys()
    write_key_file(path, keys)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().startswith("nsec1")
    assert load_key_file(path, None) == keys


def test_key_file_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "cp.key"
    write_key_file(path, generate_keys())
    with pytest.raises(FileExistsError):
        write_key_file(path, generate_keys())


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660, 0o700 | 0o001])
def test_loose_permissions_are_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "cp.key"
    write_key_file(path, generate_keys())
    path.chmod(mode)
    with pytest.raises(ConfigError, match="accessible by others"):
        load_key_file(path, None)


def test_nip49_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "cp.key"
    keys = generate_keys()
    write_key_file(path, keys, passphrase="correct horse")
    text = path.read_text()
    assert text.startswith("ncryptsec1")
    assert keys.nsec() not in text
    assert load_key_file(path, "correct horse") == keys


def test_nip49_wrong_passphrase_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "cp.key"
    write_key_file(path, generate_keys(), passphrase="correct horse")
    with pytest.raises(ConfigError, match="wrong passphrase") as info:
        load_key_file(path, "battery staple")
    assert "ncryptsec" not in str(info.value).replace("ncryptsec1...", "")


def test_nip49_official_vector() -> None:
    # The NIP-49 text's own example: decrypting it with "nostr" gives this secret key.
    import nostr_sdk

    encrypted = (
        "ncryptsec1qgg9947rlpvqu76pj5ecreduf9jxhselq2nae2kghhvd5g7dgjtcxfqtd67p9m0w57lspw8gsq6yph"
        "nm8623nsl8xn9j4jdzz84zm3frztj3z7s35vpzmqf6ksu8r89qk5z2zxfmu5gv8th8wclt0h4p"
    )
    secret = nostr_sdk.EncryptedSecretKey.from_bech32(encrypted).decrypt("nostr")
    assert secret.to_hex() == "3501454135014541350145413501453fefb02227e449e57cf4d3a3ce05378683"


def test_nip49_official_vector_loads_without_the_sdk(tmp_path: Path) -> None:
    # The same vector through our own scrypt + XChaCha20-Poly1305 decoder.
    path = tmp_path / "cp.key"
    path.write_text(
        "ncryptsec1qgg9947rlpvqu76pj5ecreduf9jxhselq2nae2kghhvd5g7dgjtcxfqtd67p9m0w57lspw8gsq6yph"
        "nm8623nsl8xn9j4jdzz84zm3frztj3z7s35vpzmqf6ksu8r89qk5z2zxfmu5gv8th8wclt0h4p\n"
    )
    path.chmod(0o600)
    keys = load_key_file(path, "nostr")
    assert keys.secret.hex() == "3501454135014541350145413501453fefb02227e449e57cf4d3a3ce05378683"
    with pytest.raises(ConfigError, match="wrong passphrase"):
        load_key_file(path, "nostr!")


def test_hex_and_nsec_key_files_load_the_same_keys(tmp_path: Path) -> None:
    keys = generate_keys()
    for name, text in (("a.key", keys.secret.hex()), ("b.key", keys.nsec())):
        path = tmp_path / name
        path.write_text(text + "\n")
        path.chmod(0o600)
        assert load_key_file(path, None) == keys
    bad = tmp_path / "bad.key"
    bad.write_text("00" * 32 + "\n")  # zero is no secp256k1 secret key
    bad.chmod(0o600)
    with pytest.raises(ConfigError, match="not a valid secret key"):
        load_key_file(bad, None)


def test_reading_keys_and_config_loads_no_nostr_sdk() -> None:
    # Config is plain data; only bot.nostr makes SDK objects (and OCPP never needs them).
    code = (
        "import sys, bot.config, bot.ocpp.billing, bot.sessions.machine\n"
        "sys.exit('nostr_sdk' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_repr_and_logs_show_no_secret(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    keys = generate_keys()
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("test").info("loaded %r", keys)
    assert keys.nsec() not in caplog.text
    assert keys.npub in repr(keys)


def test_npub_to_hex() -> None:
    keys = generate_keys()
    assert npub_to_hex(keys.npub) == keys.public_key_hex
    assert npub_to_hex(keys.public_key_hex) == keys.public_key_hex
    with pytest.raises(ValueError, match="not a public key"):
        npub_to_hex("npub1garbage")
