"""The ``zapcharge`` command line. Exit status: 0 ok, 1 failure, 2 bad config or usage."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from bot import __version__
from bot.config import PASSPHRASE_ENV, Config, identities_dir_of, load_config
from bot.errors import ConfigError, ZapchargeError
from bot.log import setup_logging
from bot.table import format_table

__all__ = ["main"]

log = logging.getLogger("bot.cli")


OCPP_VERSIONS = ("1.6", "2.0.1")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zapcharge", description=__doc__)
    parser.add_argument(
        "--config", type=Path, default=Path("relays.toml"), help="path of relays.toml"
    )
    parser.add_argument(
        "--log-level", help="DEBUG, INFO, WARNING or ERROR (default INFO; WARNING for demo)"
    )
    parser.add_argument("--version", action="version", version=f"zapcharge {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    commands.add_parser("run", help="run the bot until SIGINT/SIGTERM")
    _add_demo(commands)
    check = commands.add_parser("check-config", help="validate the configuration and summarise it")
    check.add_argument("--json", action="store_true")

    identity = commands.add_parser("identity", help="charger identities").add_subparsers(
        dest="identity_command", required=True, metavar="ACTION"
    )
    new = identity.add_parser("new", help="create identities/<id>.toml and its secret key")
    new.add_argument("id")
    new.add_argument("--name", required=True)
    new.add_argument("--lat", type=float, required=True)
    new.add_argument("--lon", type=float, required=True)
    new.add_argument("--about", default="")
    new.add_argument("--address", default="")
    new.add_argument("--picture", default="")
    new.add_argument("--connector-type", default="Type2")
    new.add_argument("--max-power-w", type=int, default=22000)
    new.add_argument("--price-msat-per-kwh", type=int, default=250_000)
    new.add_argument(
        "--encrypt", action="store_true", help=f"NIP-49 encrypt the key with ${PASSPHRASE_ENV}"
    )
    listing = identity.add_parser("list", help="list the configured chargers")
    listing.add_argument("--json", action="store_true")
    show = identity.add_parser("show", help="npub, lightning address, NIP-05 and a QR code")
    show.add_argument("id")
    show.add_argument("--json", action="store_true")
    show.add_argument("--qr", type=Path, help="also write the QR code to FILE.png or FILE.svg")
    for module in (
        "bot.lightning.simnode.cli",
        "bot.audit",
        "bot.driver.cli",
        "bot.console.cli",
    ):
        importlib.import_module(module).add_parser(commands)  # each light at import time

    price = commands.add_parser("price", help="a charger's price and where it came from")
    price.add_argument("id")
    price.add_argument("--at", help="ISO 8601 time (default now); no offset: charger's zone")
    price.add_argument("--offline", action="store_true", help="use stored feed data only")
    price.add_argument("--json", action="store_true")

    sim = commands.add_parser("sim-charger", help="run a simulated OCPP charge point")
    sim.add_argument("--ocpp", choices=OCPP_VERSIONS, default="1.6", help="its protocol")
    sim.add_argument("--url", required=True, help="ws(s)://HOST:PORT/ocpp (the id is appended)")
    sim.add_argument("--id", required=True, help="the charge point identity")
    sim.add_argument("--password", required=True, help="its ocpp_password")
    sim.add_argument("--power-w", type=int, default=11_000)
    sim.add_argument("--connectors", type=int, default=1)
    sim.add_argument("--clock-speed", type=float, default=1.0, help="simulated seconds per second")
    sim.add_argument("--sample-interval", type=int, default=60, help="MeterValues every S seconds")
    sim.add_argument("--auto-unplug", type=float, help="the car leaves S seconds after a stop")

    watch = commands.add_parser("watch", help="live table of charger status read from relays")
    watch.add_argument("--geohash", help="only chargers in this geohash cell (1-9 characters)")
    watch.add_argument("--relay", action="append", metavar="URL", help="relay(s) to read")
    watch.add_argument("--json", action="store_true")
    watch.add_argument("--once", action="store_true", help="print the current table and exit")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.log_level or ("WARNING" if args.command == "demo" else "INFO"))
    try:
        return _dispatch(args)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    except ZapchargeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # `zapcharge identity show X | head`: the reader has what it wanted. Point stdout
        # at /dev/null so the interpreter's last flush does not fail a second time.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


# Commands that need no service configuration; each module has ``main_from_args(args)``.
STANDALONE_COMMANDS = {
    # These three talk to the running bot's console API and read relays.toml only.
    "sessions": "bot.console.cli",
    "charger": "bot.console.cli",
    "reload": "bot.console.cli",
    "simnode": "bot.lightning.simnode.cli",
    "sim-charger": "bot.ocpp.simcharger",
    "watch": "bot.nostr.watch",
    "zap": "bot.driver.cli",
}
# Commands that read the configuration first; each has ``main_from_args(config, args)``.
CONFIG_COMMANDS = {
    "audit": "bot.audit",
    "price": "bot.pricing.cli",
}


def _add_demo(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = commands.add_parser(
        "demo", help="run the whole flow on embedded defaults and narrate it"
    )
    demo.add_argument("--ocpp", choices=OCPP_VERSIONS, default="1.6", help="the charger's protocol")
    demo.add_argument(
        "--backend",
        choices=("simnode", "nwc"),
        default="simnode",
        help="how the bot reaches the simulated node: its JSON-RPC, or Nostr Wallet Connect",
    )


def _dispatch(args: argparse.Namespace) -> int:  # noqa: PLR0911 -- one return per command
    if args.command == "demo":
        from bot.demo import run_demo

        return asyncio.run(run_demo(ocpp=args.ocpp, backend=args.backend))
    if args.command == "identity" and args.identity_command == "new":
        return _identity_new(args)
    if args.command in STANDALONE_COMMANDS:
        module = importlib.import_module(STANDALONE_COMMANDS[args.command])
        return int(module.main_from_args(args))
    config = load_config(args.config)
    if args.command == "run":
        return _run(config)
    if args.command == "check-config":
        return _check_config(config, as_json=args.json)
    if args.command in CONFIG_COMMANDS:
        module = importlib.import_module(CONFIG_COMMANDS[args.command])
        return int(module.main_from_args(config, args))
    if args.command == "identity":
        return (
            _identity_show(config, args)
            if args.identity_command == "show"
            else _identity_list(config, args)
        )
    raise AssertionError(f"unhandled command {args.command}")


def _run(config: Config) -> int:
    from bot.app import serve, tune_collector
    from bot.startup import describe, leaves, preflight

    preflight(config)  # StartupError: one line, exit 1
    tune_collector()
    try:
        asyncio.run(serve(config))
    except (Exception, BaseExceptionGroup) as exc:  # the CLI's last word on a failed run
        if not all(isinstance(e, ZapchargeError | OSError) for e in leaves(exc)):
            log.error("zapcharge run failed", exc_info=exc)  # a bug: keep its traceback
        print(f"error: zapcharge run stopped: {describe(exc)}", file=sys.stderr)
        return 1
    return 0


def _identity_new(args: argparse.Namespace) -> int:
    from bot.identity import NewCharger, create_identity

    passphrase = None
    if args.encrypt:
        passphrase = os.environ.get(PASSPHRASE_ENV)
        if not passphrase:
            raise ConfigError(
                str(args.config), "--encrypt", f"set {PASSPHRASE_ENV} to encrypt the key"
            )
    directory = identities_dir_of(args.config)
    new = NewCharger(
        id=args.id,
        name=args.name,
        lat=args.lat,
        lon=args.lon,
        about=args.about,
        address=args.address,
        picture=args.picture,
        connector_type=args.connector_type,
        max_power_w=args.max_power_w,
        price_msat_per_kwh=args.price_msat_per_kwh,
    )
    path = create_identity(directory, new, passphrase)
    print(f"created {path} and {path.with_suffix('.key')} (mode 0600)")
    print("the charger's OCPP password is in the .toml file; configure the charger with it")
    return 0


def _identity_list(config: Config, args: argparse.Namespace) -> int:
    from bot.identity import identity_card

    cards = [identity_card(config, c) for c in config.chargers]
    if args.json:
        print(json.dumps([c.as_json() for c in cards], indent=2))
    else:
        print(
            format_table(
                ["id", "name", "npub", "lightning address"],
                [(c.id, c.name, c.npub, c.lightning_address) for c in cards],
            )
        )
    return 0


def _identity_show(config: Config, args: argparse.Namespace) -> int:
    from bot.identity import identity_card, terminal_qr, write_qr

    charger = config.charger(args.id)
    if charger is None:
        raise ConfigError(str(config.service.identities_dir), args.id, "no such charger")
    card = identity_card(config, charger)
    # LUD-01 LNURL rather than the address: wallets without LUD-16 can scan it too.
    qr_text = f"lightning:{card.lnurl}"
    if args.qr:
        write_qr(qr_text, args.qr)
    if args.json:
        print(json.dumps(card.as_json(), indent=2))
        return 0
    for label, value in card.as_json().items():
        print(f"{label:18} {value}")
    print(terminal_qr(qr_text))
    return 0


def _check_config(config: Config, *, as_json: bool) -> int:
    from bot.startup import problems, public_url_warnings

    # A missing node socket stops `run`: an error here too. A port in use may be the
    # running bot itself: a warning.
    errors = [str(p) for p in problems(config, ports=False)]
    busy = {str(p) for p in problems(config)} - set(errors)
    warnings = public_url_warnings(config) + sorted(f"{p} (unless it is this bot)" for p in busy)
    summary: dict[str, object] = {
        "config": str(config.path),
        "public_url": config.service.public_url,
        "data_dir": str(config.service.data_dir),
        "ocpp_listen": str(config.ocpp.listen),
        "http_listen": str(config.http.listen),
        "lightning": f"{config.lightning.backend} {config.lightning.network}",
        "lightning_rpc": (str(config.lightning.rpc_path) if config.lightning.nwc is None else None),
        # The wallet's key and relays; never the secret (NwcUri's str leaves it out).
        "nwc_wallet": None if config.lightning.nwc is None else str(config.lightning.nwc),
        "relays": [{"url": r.url, "read": r.read, "write": r.write} for r in config.relays],
        "drivers": {
            "notify_max_hours": config.drivers.notify_max_hours,
            "notify_max_per_driver": config.drivers.notify_max_per_driver,
            "notify_next_after_s": config.drivers.notify_next_after_s,
        },
        "chargers": [
            {
                "id": c.id,
                "name": c.name,
                "npub": c.keys.npub,
                "lat": c.lat,
                "lon": c.lon,
                "connectors": [f"{k.id}:{k.type}:{k.max_power_w}W" for k in c.connectors],
                "price_msat_per_kwh": c.tariff.price_msat_per_kwh,
                "ocpp_version": c.ocpp_version,  # null: the protocol the charger offers
                "reservation": (  # null: reservations are off
                    {
                        "minutes": c.tariff.reservation_minutes,
                        "fee_msat": c.tariff.reservation_fee_msat,
                    }
                    if c.tariff.reservations
                    else None
                ),
            }
            for c in config.chargers
        ],
        "warnings": warnings,
        "errors": errors,
    }
    if as_json:
        print(json.dumps(summary, indent=2))
        return 1 if errors else 0
    for line in warnings:
        print(f"warning: {line}", file=sys.stderr)
    for line in errors:
        print(f"error: {line}", file=sys.stderr)
    for key in ("config", "public_url", "data_dir", "ocpp_listen", "http_listen", "lightning"):
        print(f"{key:14} {summary[key]}")
    if config.lightning.nwc is None:
        print(f"{'lightning_rpc':14} {summary['lightning_rpc']}")
    else:
        print(f"{'nwc_wallet':14} {summary['nwc_wallet']}")
    print()
    print(
        format_table(["relay", "read", "write"], [(r.url, r.read, r.write) for r in config.relays])
    )
    print()
    print(
        format_table(
            ["charger", "name", "location", "connectors", "msat/kWh"],
            [
                (
                    c.id,
                    c.name,
                    f"{c.lat:.5f},{c.lon:.5f}",
                    " ".join(f"{k.id}:{k.type}/{k.max_power_w // 1000}kW" for k in c.connectors),
                    c.tariff.price_msat_per_kwh,
                )
                for c in config.chargers
            ],
        )
    )
    if errors:
        print(f"\nconfiguration has {len(errors)} error(s): zapcharge run would not start")
        return 1
    print(f"\nconfiguration OK: {len(config.chargers)} charger(s), {len(config.relays)} relay(s)")
    return 0
