"""``zapcharge simnode``: run the simulated node, pay one of its invoices, list its payments.

Kept light at import time (argparse only): ``bot.cli`` builds this parser on every start.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

__all__ = ["add_parser", "main_from_args"]

NETWORKS = ("regtest", "signet", "testnet", "testnet4", "bitcoin")


def add_parser(commands: Any) -> None:
    """Add ``simnode [pay|payments]`` to the CLI's subcommands."""
    simnode = commands.add_parser(
        "simnode", help="a SIMULATED Lightning node (CLN JSON-RPC) for tests and the demo"
    )
    _common(simnode, None)
    simnode.add_argument("--wire-log", type=Path, help="append every exchange to FILE (JSON lines)")
    simnode.add_argument(
        "--nwc",
        type=Path,
        metavar="FILE",
        help="also run a SIMULATED Nostr Wallet Connect (NIP-47) wallet service on this node's "
        "ledger; write its connection URI to FILE (mode 0600)",
    )
    simnode.add_argument("--nwc-relay", metavar="URL", help="the wallet service's relay")
    simnode.add_argument(
        "--nwc-fault",
        action="append",
        default=[],
        metavar="FAULT",
        help="for tests: nip04_only, no_notifications, duplicate_notifications, offline, "
        "drop_notifications=N, drop_responses=METHOD:N, without=METHOD (repeatable)",
    )
    actions = simnode.add_subparsers(dest="simnode_command", metavar="ACTION")
    pay = actions.add_parser("pay", help="pay an invoice of the running node, as a wallet would")
    _common(pay, argparse.SUPPRESS)
    pay.add_argument("bolt11")
    pay.add_argument("--amount-msat", type=int, help="for invoices without an amount")
    payments = actions.add_parser("payments", help="the payments the node made (refunds)")
    _common(payments, argparse.SUPPRESS)
    payments.add_argument("--json", action="store_true")


def _common(parser: argparse.ArgumentParser, default: Any) -> None:
    # The action parsers repeat the options with SUPPRESS so that both
    # `simnode --lightning-dir D pay X` and `simnode pay --lightning-dir D X` work.
    parser.add_argument("--lightning-dir", type=Path, default=default)
    parser.add_argument("--network", choices=NETWORKS, default=default)


def main_from_args(args: argparse.Namespace) -> int:
    from bot.errors import ConfigError

    lightning_dir = getattr(args, "lightning_dir", None)
    network = getattr(args, "network", None) or "regtest"
    if lightning_dir is None:
        raise ConfigError("simnode", "--lightning-dir", "required")
    lightning_dir = lightning_dir.expanduser().resolve()
    if args.simnode_command == "pay":
        return asyncio.run(_pay(lightning_dir, network, args.bolt11, args.amount_msat))
    if args.simnode_command == "payments":
        return _payments(lightning_dir, network, as_json=args.json)
    from bot.lightning.simnode.process import run_node

    asyncio.run(run_node(lightning_dir, network, args.wire_log, _wallet_options(args)))
    return 0


def _wallet_options(args: argparse.Namespace) -> Any:
    """The NWC wallet service's options, or None without ``--nwc``."""
    from bot.errors import ConfigError

    if args.nwc is None:
        if args.nwc_relay or args.nwc_fault:
            raise ConfigError("simnode", "--nwc", "required with --nwc-relay and --nwc-fault")
        return None
    if not args.nwc_relay:
        raise ConfigError("simnode", "--nwc-relay", "required with --nwc")
    from bot.lightning.nwc.simwallet import WalletOptions, parse_faults

    try:
        faults = parse_faults(args.nwc_fault)
    except ValueError as exc:
        raise ConfigError("simnode", "--nwc-fault", str(exc)) from None
    return WalletOptions(args.nwc.expanduser().resolve(), args.nwc_relay, faults)


async def _pay(lightning_dir: Path, network: str, bolt11: str, amount: int | None) -> int:
    from bot.lightning.simnode.client import SimnodeClient

    result = await SimnodeClient(lightning_dir, network).pay_invoice(bolt11, amount)
    print(json.dumps(result, indent=2))
    return 0


def _payments(lightning_dir: Path, network: str, *, as_json: bool) -> int:
    from bot.lightning.simnode.state import read_payments
    from bot.table import format_table

    payments = read_payments(lightning_dir, network)
    if as_json:
        print(json.dumps([asdict(p) for p in payments], indent=2))
        return 0
    rows = [
        (p.payment_hash[:16], p.destination[:16], p.amount_msat, p.amount_sent_msat, p.status)
        for p in payments
    ]
    print(format_table(["payment hash", "destination", "msat", "sent msat", "status"], rows))
    return 0
