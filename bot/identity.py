"""Operator commands for charger identities: create, list, show (with QR codes)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

import segno

from bot.config import CHARGER_ID_PATTERN, PLUG_TYPES, ChargerConfig, Config
from bot.config.keys import generate_keys
from bot.errors import ConfigError
from bot.lnurl.codec import encode_lnurl
from bot.nostr.keys import write_key_file

__all__ = ["IdentityCard", "NewCharger", "create_identity", "identity_card", "write_qr"]


@dataclass(frozen=True)
class NewCharger:
    id: str
    name: str
    lat: float
    lon: float
    about: str = ""
    address: str = ""
    picture: str = ""
    connector_type: str = "Type2"
    max_power_w: int = 22000
    price_msat_per_kwh: int = 250_000


@dataclass(frozen=True)
class IdentityCard:
    """What an operator needs to hand out for one charger."""

    id: str
    name: str
    npub: str
    pubkey: str
    lightning_address: str
    nip05: str
    lnurlp_url: str
    lnurl: str  # LUD-01 bech32 of lnurlp_url: every LNURL wallet can scan it

    def as_json(self) -> dict[str, str]:
        return dict(self.__dict__)


def _toml_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def create_identity(directory: Path, new: NewCharger, passphrase: str | None) -> Path:
    """Write ``<id>.toml`` and ``<id>.key`` (0600). Refuses to overwrite either."""
    toml_path = directory / f"{new.id}.toml"
    if not CHARGER_ID_PATTERN.match(new.id):
        raise ConfigError(str(toml_path), "id", "use 1-32 characters a-z, 0-9 and '-'")
    if not (-90 <= new.lat <= 90 and -180 <= new.lon <= 180):
        raise ConfigError(str(toml_path), "lat", "coordinates out of range")
    if new.connector_type not in PLUG_TYPES:
        raise ConfigError(
            str(toml_path), "connector[0].type", f"unknown plug type {new.connector_type!r}"
        )
    key_path = directory / f"{new.id}.key"
    for path in (toml_path, key_path):
        if path.exists():
            raise ConfigError(str(path), "id", "already exists; not overwriting it")
    directory.mkdir(parents=True, exist_ok=True)
    write_key_file(key_path, generate_keys(), passphrase)
    lines = [
        f"id = {_toml_string(new.id)}",
        f"name = {_toml_string(new.name)}",
        f"about = {_toml_string(new.about)}",
        f"picture = {_toml_string(new.picture)}",
        f"lat = {new.lat!r}",
        f"lon = {new.lon!r}",
        f"address = {_toml_string(new.address)}",
        "# The charger logs in with HTTP basic auth: user = id, password = this.",
        f"ocpp_password = {_toml_string(secrets.token_urlsafe(18))}",
        "",
        "[[connector]]",
        "id = 1",
        f"type = {_toml_string(new.connector_type)}",
        f"max_power_w = {new.max_power_w}",
        "",
        "[tariff]",
        'kind = "static"',
        f"price_msat_per_kwh = {new.price_msat_per_kwh}",
        "session_fee_msat = 0",
        "min_sendable_msat = 1000000",
        "max_sendable_msat = 200000000",
        "",
    ]
    # Not secret by itself, but it holds the OCPP password: keep it private as well.
    toml_path.write_text("\n".join(lines), encoding="utf-8")
    toml_path.chmod(0o600)
    return toml_path


def identity_card(config: Config, charger: ChargerConfig) -> IdentityCard:
    domain = config.service.domain
    lnurlp_url = f"{config.service.public_url}/.well-known/lnurlp/{charger.id}"
    return IdentityCard(
        id=charger.id,
        name=charger.name,
        npub=charger.keys.npub,
        pubkey=charger.keys.public_key_hex,
        lightning_address=f"{charger.id}@{domain}",
        nip05=f"{charger.id}@{domain}",
        lnurlp_url=lnurlp_url,
        lnurl=encode_lnurl(lnurlp_url),
    )


def terminal_qr(text: str) -> str:
    """A QR code drawn with block characters, for the operator's terminal."""
    qr = segno.make(text, error="m")
    rows = [list(row) for row in qr.matrix_iter(scale=1, border=2)]
    out: list[str] = []
    for top, bottom in zip(rows[0::2], [*rows[1::2], [0] * len(rows[0])], strict=False):
        out.append("".join(_half_block(bool(a), bool(b)) for a, b in zip(top, bottom, strict=True)))
    return "\n".join(out)


def _half_block(top_dark: bool, bottom_dark: bool) -> str:
    # Dark modules are drawn as spaces on a light background would need colours; instead we
    # draw the light modules, which scans correctly on the usual dark terminal.
    return {(False, False): "█", (True, False): "▄", (False, True): "▀", (True, True): " "}[
        (top_dark, bottom_dark)
    ]


def write_qr(text: str, path: Path) -> None:
    if path.suffix.lower() not in (".png", ".svg"):
        raise ConfigError(str(path), "--qr", "write the QR code as .png or .svg")
    segno.make(text, error="m").save(str(path), scale=8, border=4)
