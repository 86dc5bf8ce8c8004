"""Configuration: ``relays.toml`` and ``identities/*.toml``, read once into frozen objects.

Every mistake raises :class:`~bot.errors.ConfigError` naming the file and the dotted key.
Paths inside a file are relative to that file. The environment is read here and nowhere
later: the NIP-49 passphrase comes in through ``env``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import ROUND_FLOOR, Decimal
from functools import cached_property
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from bot.config.console import ConsoleConfig, parse_console
from bot.config.keys import ChargerKeys, load_key_file
from bot.config.nwc import NwcUri, read_nwc_uri_file
from bot.config.pricing import PricingConfig, parse_pricing
from bot.config.zapper import ZapperConfig, parse_zapper
from bot.errors import ConfigError
from bot.tomlkeys import KeyReader, read_toml, resolve_path

__all__ = [
    "CURRENCY_PATTERN",
    "PASSPHRASE_ENV",
    "ChargerConfig",
    "Config",
    "Connector",
    "DmConfig",
    "DriversConfig",
    "FiatPrices",
    "HttpConfig",
    "LightningConfig",
    "ListenAddress",
    "NwcUri",
    "OcppConfig",
    "RelayConfig",
    "ServiceConfig",
    "SessionsConfig",
    "Tariff",
    "identities_dir_of",
    "load_charger",
    "load_config",
    "load_identities",
    "parse_listen",
]

PASSPHRASE_ENV = "ZAPCHARGE_KEY_PASSPHRASE"  # noqa: S105 -- the variable's name, not a secret
CURRENCY_PATTERN = re.compile(r"^[A-Z]{3}$")  # ISO 4217 code
CHARGER_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
PLUG_TYPES = ("Type1", "Type2", "CCS1", "CCS2", "CHAdeMO", "Tesla", "Schuko", "GBT")
DEFAULT_MAX_EVENTS_PER_S = 500  # [[relay]] max_events_per_s: what LocalRelay and public relays take


@dataclass(frozen=True, slots=True)
class ListenAddress:
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class RelayConfig:
    url: str
    read: bool = True
    write: bool = True
    # Events sent to this relay per second at most (a burst of one second's worth at once):
    # relays limit events per connection, and a burst beyond the limit costs the connection.
    max_events_per_s: int = DEFAULT_MAX_EVENTS_PER_S


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    public_url: str
    data_dir: Path
    identities_dir: Path

    @property
    def domain(self) -> str:
        """Host part of the public URL: the domain of lightning addresses and NIP-05 names."""
        return urlsplit(self.public_url).netloc

    @property
    def database_path(self) -> Path:
        return self.data_dir / "zapcharge.sqlite3"

    @property
    def pid_path(self) -> Path:
        """Where ``zapcharge run`` writes its process id (``zapcharge reload`` signals it)."""
        return self.data_dir / "zapcharge.pid"


@dataclass(frozen=True, slots=True)
class OcppConfig:
    listen: ListenAddress
    tls_cert: Path | None = None
    tls_key: Path | None = None
    heartbeat_interval_s: int = 300


@dataclass(frozen=True, slots=True)
class HttpConfig:
    listen: ListenAddress


@dataclass(frozen=True, slots=True)
class LightningConfig:
    backend: Literal["cln", "simnode", "nwc"]
    lightning_dir: Path
    network: str
    nwc_uri_file: Path | None = None  # backend "nwc": where the connection URI is
    nwc: NwcUri | None = field(default=None, repr=False)  # ... and what it says

    @property
    def rpc_path(self) -> Path:
        return self.lightning_dir / self.network / "lightning-rpc"


@dataclass(frozen=True, slots=True)
class DmConfig:
    nip04_fallback: bool = False


@dataclass(frozen=True, slots=True)
class Connector:
    id: int
    type: str
    max_power_w: int


@dataclass(frozen=True, slots=True)
class FiatPrices:
    """Prices set in a fiat currency, and the configured rate that turns them into msat."""

    currency: str  # ISO 4217, e.g. "EUR"
    msat_per_unit: int  # the rate: msat for one unit of the currency
    price_per_kwh: Decimal
    session_fee: Decimal = Decimal(0)
    per_minute: Decimal = Decimal(0)
    idle_fee_per_minute: Decimal = Decimal(0)

    def to_msat(self, amount: Decimal, msat_per_unit: int | None = None) -> int:
        """Whole msat, rounded down: a converted price never favours the operator."""
        rate = self.msat_per_unit if msat_per_unit is None else msat_per_unit
        return int((amount * rate).to_integral_value(rounding=ROUND_FLOOR))


@dataclass(frozen=True, slots=True)
class Tariff:
    """A static tariff. The msat fields always hold msat; with ``fiat`` they are derived."""

    kind: Literal["static"]
    price_msat_per_kwh: int
    session_fee_msat: int
    min_sendable_msat: int
    max_sendable_msat: int
    per_minute_msat: int = 0
    idle_fee_msat_per_minute: int = 0  # after the car is full (no energy flows) ...
    idle_grace_minutes: int = 10  # ... after this many minutes of grace
    fiat: FiatPrices | None = None
    # A connector held for a driver who zapped "reserve": both set, or reservations are off.
    reservation_minutes: float | None = None
    reservation_fee_msat: int | None = None

    @property
    def reservations(self) -> bool:
        return self.reservation_minutes is not None and self.reservation_fee_msat is not None

    @property
    def currency(self) -> str:
        return self.fiat.currency if self.fiat else "msat"


@dataclass(frozen=True, slots=True)
class SessionsConfig:
    start_timeout_s: int = 180  # RemoteStart accepted but no StartTransaction: failed_to_start
    progress_every_wh: int = 1000  # a progress DM after this much energy ...
    progress_every_s: int = 900  # ... or this much time, whichever comes first
    disconnect_timeout_s: int = 300  # charger gone this long mid-session: stop and settle
    stop_timeout_s: int = 600  # RemoteStop sent, no StopTransaction: settle on the last reading
    sample_interval_s: int = 15  # MeterValueSampleInterval while a paid session runs
    stop_latency_s: int = 10  # allowance for RemoteStop to take effect, in the stop threshold
    refund_max_fee_msat: int = 10_000  # a refund may spend this much on routing fees ...
    refund_max_fee_ppm: int = 5_000  # ... or this share of it, whichever is larger
    withdraw_expiry_s: int = 7 * 24 * 3600  # lifetime of an LNURL-withdraw refund link
    # Near the end of a budget (bot.sessions.edge): cap the power once the rest lasts less
    # than this at full power (0: never), not below the minimum; stop a session whose
    # readings are this much overdue once what may have flowed unseen could reach the budget.
    limit_power_horizon_s: int = 300
    limit_min_power_w: int = 1_400
    late_readings_s: int = 30

    def refund_max_fee(self, amount_msat: int) -> int:
        return max(self.refund_max_fee_msat, amount_msat * self.refund_max_fee_ppm // 1_000_000)


@dataclass(frozen=True, slots=True)
class DriversConfig:
    """``[drivers]``: the "tell me when it is free" notices (``notify``)."""

    notify_max_hours: float = 6.0  # a notice not given by then is given up (and said so)
    notify_max_per_driver: int = 5  # pending notices one driver may have, over all chargers
    notify_next_after_s: float = 60.0  # the next in line is told this long after the last

    @property
    def notify_max_s(self) -> float:
        return self.notify_max_hours * 3600.0


@dataclass(frozen=True, slots=True)
class ChargerConfig:
    id: str
    name: str
    about: str
    picture: str
    lat: float
    lon: float
    address: str
    ocpp_password: str = field(repr=False)
    connectors: tuple[Connector, ...]
    tariff: Tariff
    key_file: Path
    keys: ChargerKeys
    pricing: PricingConfig | None = None  # load_charger always sets it; None means [tariff]
    zapper: ZapperConfig | None = None  # an external lightning address and its zapper
    ocpp_version: str | None = None  # "1.6" or "2.0.1" pins it; None: what the charger offers

    def connector(self, connector_id: int) -> Connector | None:
        return next((c for c in self.connectors if c.id == connector_id), None)


@dataclass(frozen=True)
class Config:
    path: Path
    relays: tuple[RelayConfig, ...]
    service: ServiceConfig
    ocpp: OcppConfig
    http: HttpConfig
    lightning: LightningConfig
    dm: DmConfig
    chargers: tuple[ChargerConfig, ...]
    sessions: SessionsConfig = SessionsConfig()
    drivers: DriversConfig = DriversConfig()
    console: ConsoleConfig = field(default_factory=ConsoleConfig)

    def charger(self, charger_id: str) -> ChargerConfig | None:
        return self._chargers_by_id.get(charger_id)

    @cached_property
    def _chargers_by_id(self) -> dict[str, ChargerConfig]:
        # Looked up per OCPP message and per session step: a scan of 10,000 is too slow.
        return {c.id: c for c in self.chargers}

    @property
    def read_relays(self) -> tuple[str, ...]:
        return tuple(r.url for r in self.relays if r.read)

    @property
    def write_relays(self) -> tuple[str, ...]:
        return tuple(r.url for r in self.relays if r.write)


def parse_listen(table: KeyReader, name: str, default: str) -> ListenAddress:
    text = table.text(name, default)
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise table.fail(name, f"expected HOST:PORT, got {text!r}")
    return ListenAddress(host.strip("[]"), int(port))


def load_config(
    path: Path, env: Mapping[str, str] | None = None, *, identities: bool = True
) -> Config:
    """Read ``relays.toml`` and every identity it points at. Raises ConfigError.

    ``identities=False`` reads ``relays.toml`` alone (``chargers`` is empty): what commands
    that only talk to the running bot need, so a broken identity file cannot stop them."""
    env = os.environ if env is None else env
    path = path.resolve()
    base = path.parent
    root = KeyReader(str(path), "", read_toml(path))
    relays = tuple(_relay(t) for t in root.tables("relay"))
    service = _service(root.table("service", required=True), base)
    ocpp = _ocpp(root.table("ocpp"), base)
    http = HttpConfig(parse_listen(root.table("http"), "listen", "0.0.0.0:8080"))
    lightning = _lightning(root.table("lightning"), base)
    dm_table = root.table("dm")
    dm = DmConfig(nip04_fallback=dm_table.flag("nip04_fallback", False))
    dm_table.done()
    sessions = _sessions(root.table("sessions"))
    drivers = _drivers(root.table("drivers"))
    console = parse_console(root.table("console"), base)
    root.done()
    chargers = (
        _load_identities(service.identities_dir, env.get(PASSPHRASE_ENV)) if identities else ()
    )
    return Config(
        path, relays, service, ocpp, http, lightning, dm, chargers, sessions, drivers, console
    )


def _relay(table: KeyReader) -> RelayConfig:
    url = table.text("url")
    if urlsplit(url).scheme not in ("ws", "wss") or not urlsplit(url).netloc:
        raise table.fail("url", f"expected a ws:// or wss:// URL, got {url!r}")
    relay = RelayConfig(
        url,
        read=table.flag("read", True),
        write=table.flag("write", True),
        max_events_per_s=table.integer(
            "max_events_per_s", DEFAULT_MAX_EVENTS_PER_S, minimum=1, maximum=100_000
        ),
    )
    table.done()
    return relay


def _service(table: KeyReader, base: Path) -> ServiceConfig:
    public_url = table.text("public_url").rstrip("/")
    parts = urlsplit(public_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise table.fail("public_url", f"expected an http(s) URL, got {public_url!r}")
    service = ServiceConfig(
        public_url=public_url,
        data_dir=resolve_path(base, table.text("data_dir", "data")),
        identities_dir=resolve_path(base, table.text("identities_dir", "identities")),
    )
    table.done()
    return service


def _ocpp(table: KeyReader, base: Path) -> OcppConfig:
    listen = parse_listen(table, "listen", "0.0.0.0:9000")
    cert, key = table.text("tls_cert", None), table.text("tls_key", None)
    if (cert is None) != (key is None):
        raise table.fail("tls_key" if key is None else "tls_cert", "set both tls_cert and tls_key")
    config = OcppConfig(
        listen=listen,
        tls_cert=resolve_path(base, cert) if cert else None,
        tls_key=resolve_path(base, key) if key else None,
        heartbeat_interval_s=table.integer("heartbeat_interval_s", 300, minimum=10),
    )
    for name, file in (("tls_cert", config.tls_cert), ("tls_key", config.tls_key)):
        if file is not None and not file.is_file():
            raise table.fail(name, f"file {file} does not exist")
    table.done()
    return config


def _lightning(table: KeyReader, base: Path) -> LightningConfig:
    backend = table.text("backend", "cln")
    if backend not in ("cln", "simnode", "nwc"):
        raise table.fail("backend", f"expected 'cln', 'simnode' or 'nwc', got {backend!r}")
    default_network = "regtest" if backend == "simnode" else "bitcoin"
    network = table.text("network", default_network)
    if network not in ("bitcoin", "testnet", "testnet4", "signet", "regtest"):
        raise table.fail("network", f"unknown network {network!r}")
    uri_file = resolve_path(base, table.text("nwc_uri_file", "wallet.nwc"))
    config = LightningConfig(
        backend=backend,
        lightning_dir=resolve_path(base, table.text("lightning_dir", "~/.lightning")),
        network=network,
        # Read (and its mode checked) only when it is used: a cln config needs no wallet.
        nwc_uri_file=uri_file if backend == "nwc" else None,
        nwc=(
            read_nwc_uri_file(uri_file, table.file, table.key("nwc_uri_file"))
            if backend == "nwc"
            else None
        ),
    )
    table.done()
    return config


def _sessions(table: KeyReader) -> SessionsConfig:
    default = SessionsConfig()
    values = {
        name: table.integer(name, getattr(default, name), minimum=minimum)
        for name, minimum in (
            ("start_timeout_s", 10),
            ("progress_every_wh", 1),
            ("progress_every_s", 10),
            ("disconnect_timeout_s", 10),
            ("stop_timeout_s", 10),
            ("sample_interval_s", 1),
            ("stop_latency_s", 0),
            ("refund_max_fee_msat", 0),
            ("refund_max_fee_ppm", 0),
            ("withdraw_expiry_s", 60),
            ("limit_power_horizon_s", 0),
            ("limit_min_power_w", 100),
            ("late_readings_s", 5),
        )
    }
    table.done()
    return SessionsConfig(**values)


def _drivers(table: KeyReader) -> DriversConfig:
    default = DriversConfig()
    hours = table.decimal("notify_max_hours", None, minimum=Decimal(0))
    if hours is not None and hours <= 0:
        raise table.fail("notify_max_hours", f"must be above 0, got {hours}")
    drivers = DriversConfig(
        notify_max_hours=default.notify_max_hours if hours is None else float(hours),
        notify_max_per_driver=table.integer(
            "notify_max_per_driver", default.notify_max_per_driver, minimum=1
        ),
        notify_next_after_s=table.seconds(
            "notify_next_after_s", default.notify_next_after_s, minimum=1
        ),
    )
    table.done()
    return drivers


def _load_identities(directory: Path, passphrase: str | None) -> tuple[ChargerConfig, ...]:
    if not directory.is_dir():
        raise ConfigError(str(directory), "service.identities_dir", "directory does not exist")
    chargers: list[ChargerConfig] = []
    first_file: dict[str, Path] = {}
    for file in sorted(directory.glob("*.toml")):
        charger = load_charger(file, passphrase)
        if charger.id in first_file:
            raise ConfigError(
                str(file),
                "id",
                f"duplicate charger id {charger.id!r} (also in {first_file[charger.id]})",
            )
        first_file[charger.id] = file
        chargers.append(charger)
    return tuple(chargers)


def load_identities(directory: Path, passphrase: str | None) -> tuple[ChargerConfig, ...]:
    """Every ``*.toml`` in ``directory``, checked as at start-up (``zapcharge reload``)."""
    return _load_identities(directory, passphrase)


def identities_dir_of(config_path: Path) -> Path:
    """Where ``identity new`` writes: the config's identities_dir, or ./identities without one."""
    if not config_path.exists():
        return Path("identities")
    service = KeyReader(str(config_path), "", read_toml(config_path)).table("service")
    return resolve_path(config_path.resolve().parent, service.text("identities_dir", "identities"))


def load_charger(path: Path, passphrase: str | None) -> ChargerConfig:
    """Read one ``identities/<id>.toml`` and the key file beside it."""
    table = KeyReader(str(path), "", read_toml(path))
    charger_id = table.text("id")
    if not CHARGER_ID_PATTERN.match(charger_id):
        raise table.fail(
            "id", "use 1-32 characters a-z, 0-9 and '-', starting with a letter or digit"
        )
    lat, lon = table.number("lat"), table.number("lon")
    if not -90 <= lat <= 90:
        raise table.fail("lat", f"latitude must be within -90..90, got {lat}")
    if not -180 <= lon <= 180:
        raise table.fail("lon", f"longitude must be within -180..180, got {lon}")
    password = table.text("ocpp_password")
    if len(password) < 8:
        raise table.fail("ocpp_password", "use at least 8 characters")
    key_file = resolve_path(path.parent, table.text("key_file", f"{charger_id}.key"))
    charger = ChargerConfig(
        id=charger_id,
        name=table.text("name"),
        about=table.text("about", ""),
        picture=table.text("picture", ""),
        lat=lat,
        lon=lon,
        address=table.text("address", ""),
        ocpp_password=password,
        connectors=_connectors(table),
        tariff=_tariff(table.table("tariff", required=True)),
        key_file=key_file,
        keys=load_key_file(key_file, passphrase, key="key_file"),
    )
    charger = replace(
        charger,
        pricing=parse_pricing(
            str(path), table.raw("pricing", None), charger.tariff.price_msat_per_kwh
        ),
        zapper=parse_zapper(str(path), table.raw("zapper", None)),
        ocpp_version=_ocpp_version(table),
    )
    table.done()
    return charger


def _ocpp_version(table: KeyReader) -> str | None:
    version = table.text("ocpp_version", None)
    if version not in (None, "1.6", "2.0.1"):
        raise table.fail("ocpp_version", f'use "1.6" or "2.0.1", got {version!r}')
    return str(version) if version else None


def _connectors(table: KeyReader) -> tuple[Connector, ...]:
    connectors: list[Connector] = []
    for item in table.tables("connector"):
        connector = Connector(
            id=item.integer("id", minimum=1),
            type=item.text("type"),
            max_power_w=item.integer("max_power_w", minimum=1),
        )
        if connector.type not in PLUG_TYPES:
            raise item.fail(
                "type", f"unknown plug type {connector.type!r}; one of {', '.join(PLUG_TYPES)}"
            )
        if any(c.id == connector.id for c in connectors):
            raise item.fail("id", f"duplicate connector id {connector.id}")
        item.done()
        connectors.append(connector)
    if not connectors:
        raise table.fail("connector", "at least one [[connector]] is needed")
    return tuple(connectors)


def _tariff(table: KeyReader) -> Tariff:
    kind = table.text("kind", "static")
    if kind != "static":
        raise table.fail("kind", f"unknown tariff kind {kind!r}; supported: static")
    currency = table.text("currency", "msat")
    if currency != "msat" and not CURRENCY_PATTERN.match(currency):
        raise table.fail("currency", f"expected 'msat' or an ISO 4217 code, got {currency!r}")
    fiat = None if currency == "msat" else _fiat_prices(table, currency)
    msat_keys = (
        "price_msat_per_kwh",
        "session_fee_msat",
        "per_minute_msat",
        "idle_fee_msat_per_minute",
    )
    if fiat is not None:
        # One source of truth per price: fiat prices are converted, never mixed with msat.
        for name in msat_keys:
            if name in table.data:
                raise table.fail(name, f"not allowed with currency = {currency!r}; use fiat_*")
        prices = (
            fiat.to_msat(fiat.price_per_kwh),
            fiat.to_msat(fiat.session_fee),
            fiat.to_msat(fiat.per_minute),
            fiat.to_msat(fiat.idle_fee_per_minute),
        )
        if prices[0] < 1:
            raise table.fail("fiat_price_per_kwh", "converts to less than 1 msat per kWh")
    else:
        prices = (
            table.integer("price_msat_per_kwh", minimum=1),
            table.integer("session_fee_msat", 0),
            table.integer("per_minute_msat", 0),
            table.integer("idle_fee_msat_per_minute", 0),
        )
    reservation = _reservation_terms(table)
    tariff = Tariff(
        kind="static",
        price_msat_per_kwh=prices[0],
        session_fee_msat=prices[1],
        min_sendable_msat=table.integer("min_sendable_msat", 1_000_000, minimum=1000),
        max_sendable_msat=table.integer("max_sendable_msat", 200_000_000, minimum=1000),
        per_minute_msat=prices[2],
        idle_fee_msat_per_minute=prices[3],
        idle_grace_minutes=table.integer("idle_grace_minutes", 10),
        fiat=fiat,
        reservation_minutes=reservation[0],
        reservation_fee_msat=reservation[1],
    )
    if tariff.max_sendable_msat < tariff.min_sendable_msat:
        raise table.fail("max_sendable_msat", "must not be below min_sendable_msat")
    if tariff.min_sendable_msat <= tariff.session_fee_msat:
        raise table.fail("min_sendable_msat", "must be above session_fee_msat")
    table.done()
    return tariff


def _reservation_terms(table: KeyReader) -> tuple[float | None, int | None]:
    """``reservation_minutes`` (fractions allowed) and ``reservation_fee_msat`` (always msat,
    whatever the currency: it is the exact amount a driver zaps); both or neither."""
    minutes = table.decimal("reservation_minutes", None, minimum=Decimal(0))
    fee = table.integer("reservation_fee_msat", None, minimum=1000)
    if minutes is not None and not 0 < minutes <= 24 * 60:
        raise table.fail("reservation_minutes", f"must be within 0..1440 (above 0), got {minutes}")
    if (minutes is None) != (fee is None):
        missing = "reservation_fee_msat" if fee is None else "reservation_minutes"
        raise table.fail(missing, "missing: set reservation_minutes and reservation_fee_msat")
    return (None if minutes is None else float(minutes)), fee


def _fiat_prices(table: KeyReader, currency: str) -> FiatPrices:
    for name in ("fiat_price_per_kwh", "msat_per_fiat_unit"):
        if name not in table.data:
            raise table.fail(name, f"missing (needed with currency = {currency!r})")
    zero = Decimal(0)
    return FiatPrices(
        currency=currency,
        msat_per_unit=table.integer("msat_per_fiat_unit", minimum=1),
        price_per_kwh=table.decimal("fiat_price_per_kwh", minimum=zero),
        session_fee=table.decimal("fiat_session_fee", zero, minimum=zero),
        per_minute=table.decimal("fiat_per_minute", zero, minimum=zero),
        idle_fee_per_minute=table.decimal("fiat_idle_fee_per_minute", zero, minimum=zero),
    )
