"""``zapcharge zap TARGET --sats N``: zap a charger (or anyone) as a nostr client would.

Kept light at import time (argparse only): ``bot.cli`` builds this parser on every start.
Exit status 0 once a valid receipt for our invoice is on the relays (or, with ``--wait 0``,
once the invoice checked out); 1 when any step fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

__all__ = ["add_parser", "main_from_args"]

NETWORKS = ("bitcoin", "testnet", "testnet4", "signet", "regtest")


def add_parser(commands: Any) -> None:
    zap = commands.add_parser("zap", help="zap an npub or lightning address (NIP-57), as a client")
    zap.add_argument("target", help="npub1... (its kind 0 lud16) or name@domain")
    zap.add_argument("--sats", type=int, required=True, help="amount in sats")
    zap.add_argument("--nsec-file", type=Path, help="the zapper's key (default: a new one)")
    zap.add_argument("--comment", default="", help="the zap's comment (kind 9734 content)")
    zap.add_argument(
        "--relay", action="append", metavar="URL", help="relays to read and for the receipt"
    )
    zap.add_argument("--pay-with-simnode", type=Path, metavar="DIR", help="pay from this node")
    zap.add_argument("--network", choices=NETWORKS, help="default: regtest with a simnode")
    zap.add_argument("--wait", type=float, default=60.0, help="seconds to wait for the receipt")
    zap.add_argument("--json", action="store_true")


def main_from_args(args: argparse.Namespace) -> int:
    from bot.config import PASSPHRASE_ENV, load_config
    from bot.config.keys import generate_keys, load_key_file
    from bot.errors import ConfigError

    if args.sats <= 0:
        raise ConfigError("zap", "--sats", "must be a positive number of sats")
    relays = list(args.relay or [])
    if not relays and Path(args.config).exists():
        relays = list(load_config(Path(args.config)).read_relays)
    if not relays:
        raise ConfigError("zap", "--relay", "name at least one relay (or use a config)")
    if args.nsec_file is not None:
        keys = load_key_file(args.nsec_file, os.environ.get(PASSPHRASE_ENV), key="--nsec-file")
    else:
        keys = generate_keys()
    network = args.network or ("regtest" if args.pay_with_simnode else "bitcoin")
    outcome = asyncio.run(_zap(args, keys, relays, network))
    if args.json:
        print(json.dumps(outcome, indent=2))
    else:
        for key, value in outcome.items():
            print(f"{key:20} {value}")
    return 0


async def _zap(args: argparse.Namespace, keys: Any, relays: list[str], network: str) -> Any:
    from bot.config import RelayConfig
    from bot.driver.zap import ZapOutcome, zap
    from bot.errors import ZapchargeError
    from bot.lightning.simnode import SimnodeClient
    from bot.lnurl.client import lnurl_client
    from bot.nostr.pool import RelayPool
    from bot.nostr.zap_relays import PoolZapRelays
    from bot.ports.bolt11 import NETWORK_CURRENCY

    pay = None
    if args.pay_with_simnode is not None:
        pay = SimnodeClient(args.pay_with_simnode.expanduser().resolve(), network).pay_invoice
    pool = RelayPool([RelayConfig(url, read=True, write=False) for url in relays])
    result: ZapOutcome | ZapchargeError
    try:
        # The person chose the target: any host of theirs is fair game, loopback included.
        async with (
            asyncio.TaskGroup() as group,
            lnurl_client(allow_loopback=True, allow_private=True) as client,
        ):
            pump = group.create_task(pool.run())
            try:
                result = await zap(
                    args.target,
                    args.sats * 1000,
                    driver_keys=keys,
                    relays=PoolZapRelays(pool),
                    receipt_relays=relays,
                    client=client,
                    currency=NETWORK_CURRENCY[network],
                    now=int(time.time()),
                    comment=args.comment,
                    pay=pay,
                    wait_s=args.wait,
                )
            except ZapchargeError as exc:  # kept out of the TaskGroup's ExceptionGroup
                result = exc
            finally:
                pump.cancel()
    finally:
        await pool.close()
    if isinstance(result, ZapchargeError):
        raise result
    return result.as_json()
