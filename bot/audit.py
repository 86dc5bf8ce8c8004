"""``zapcharge audit <session-id> [--json]``: check a session's meter log and show its numbers.

``zapcharge audit --unclaimed [--json]`` lists, read-only, the money our node received that
no session accounts for (``unclaimed_payments``): the operator refunds it by hand. Exit
status 0 when there is none, 1 when there is some, so a cron job can alert on it.

``zapcharge audit --totals [--json]`` sums the money of every settled session: paid,
consumed, fees, refunded, waived, and the overshoot (Wh a charger delivered beyond the
budget while the bot was down or the charger unreachable: never billed, the operator's
loss, kept per session in ``session_overshoot`` and shown in each session's audit).

The session's transaction has one hash chain in the meter log (``tx:<transaction id>``);
:func:`~bot.store.meter_log.verify_chain` recomputes every hash and link and compares the
end with the recorded head. Exit status 0 when the chain holds, 1 when it is broken or the
session is unknown.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from bot.config import Config
from bot.sessions.records import SessionRecords
from bot.sessions.settlement import format_msat
from bot.store import Database
from bot.store.lnurl import LnurlStore
from bot.store.meter_log import transaction_chain, verify_chain
from bot.store.overshoot import OvershootStore

__all__ = ["add_parser", "audit", "main_from_args", "unclaimed"]


def add_parser(commands: Any) -> None:
    parser = commands.add_parser("audit", help="verify a session's hash-chained meter log")
    parser.add_argument("session", nargs="?", help="the session id (from the receipt)")
    parser.add_argument(
        "--unclaimed", action="store_true", help="list paid invoices that belong to no session"
    )
    parser.add_argument(
        "--totals",
        action="store_true",
        help="the money of every settled session, and what overshoot cost the operator",
    )
    parser.add_argument("--json", action="store_true")


def main_from_args(config: Config, args: argparse.Namespace) -> int:
    if args.totals:
        return _print_totals(asyncio.run(totals(config)), as_json=args.json)
    if args.unclaimed:
        return _print_unclaimed(asyncio.run(unclaimed(config)), as_json=args.json)
    if args.session is None:
        print("zapcharge audit: give a session id or --unclaimed", file=sys.stderr)
        return 2
    report = asyncio.run(audit(config, args.session))
    if args.json:
        print(json.dumps(report, indent=2, sort_keys=True))
    else:
        for key, value in report.items():
            if key == "problems":
                for problem in value:
                    print(f"  problem: {problem}")
            elif key.endswith("_msat") and isinstance(value, int):
                print(f"{key}: {format_msat(value)}")
            else:
                print(f"{key}: {value}")
    return 0 if report["chain_ok"] else 1


def _print_unclaimed(payments: list[dict[str, Any]], *, as_json: bool) -> int:
    if as_json:
        print(json.dumps(payments, indent=2, sort_keys=True))
    elif not payments:
        print("no unclaimed payments")
    else:
        total = sum(int(p["amount_msat"]) for p in payments)
        print(f"{len(payments)} unclaimed payment(s), {format_msat(total)} in all:")
        for p in payments:
            print(
                f"  {p['payment_hash']}  {format_msat(p['amount_msat'])}  {p['label']}"
                f"  paid {_when(p['paid_at'])}: {p['reason']}"
            )
    return 1 if payments else 0


async def unclaimed(config: Config) -> list[dict[str, Any]]:
    """Every kept payment without a session, oldest first, as plain data."""
    db = await Database.open(config.service.database_path)
    try:
        return [asdict(p) for p in await LnurlStore(db).unclaimed()]
    finally:
        await db.close()


async def totals(config: Config) -> dict[str, int]:
    db = await Database.open(config.service.database_path)
    try:
        return asdict(await OvershootStore(db).totals())
    finally:
        await db.close()


def _print_totals(sums: dict[str, int], *, as_json: bool) -> int:
    if as_json:
        print(json.dumps(sums, indent=2, sort_keys=True))
        return 0
    for key, value in sums.items():
        print(f"{key}: {format_msat(value) if key.endswith('_msat') else value}")
    return 0


def _when(at: float | None) -> str:
    return "-" if at is None else datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M UTC")


async def audit(config: Config, session_id: str) -> dict[str, Any]:
    db = await Database.open(config.service.database_path)
    try:
        session = await SessionRecords(db).get(session_id)
        if session is None:
            return {"session": session_id, "chain_ok": False, "problems": ["no such session"]}
        report: dict[str, Any] = {
            "session": session.id,
            "charger": f"{session.charger_id}/{session.connector_id}",
            "state": session.state.value,
            "transaction_id": session.transaction_id,
            "meter_start_wh": session.meter_start_wh,
            "meter_stop_wh": session.meter_stop_wh,
            "energy_wh": session.energy_wh,
            "paid_msat": session.paid_msat,
            "consumed_msat": session.consumed_msat,
            "fees_msat": session.fees_msat,
            "refund_msat": session.refund_msat,
            "waived_msat": session.waived_msat,
        }
        over = await OvershootStore(db).of(session.id)
        # Energy delivered beyond the budget: never billed, the operator's loss.
        report["overshoot_wh"] = over.over_wh if over else 0
        report["budget_wh"] = over.budget_wh if over else None
        if session.transaction_id is None:
            # No transaction, no energy: nothing to chain (a failed start is refunded whole).
            return report | {"chain": None, "readings": 0, "chain_ok": True, "problems": []}
        verdict = await verify_chain(db, transaction_chain(session.transaction_id))
        return report | {
            "chain": verdict.chain,
            "readings": verdict.length,
            "head": verdict.head,
            "chain_ok": verdict.ok,
            "problems": list(verdict.problems),
        }
    finally:
        await db.close()
