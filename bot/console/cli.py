"""``zapcharge sessions``, ``zapcharge charger ID ACTION`` and ``zapcharge reload``: the
console's API from the command line, for scripts (bearer token from ``[console] token_file``).

Exit status: 0 done, 1 the charger or the bot refused or could not be reached, 2 usage
(a charger command without ``--yes`` where nobody can be asked).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from bot.config import Config, load_config
from bot.console.client import ConsoleClient, console_url
from bot.table import format_table

__all__ = ["add_parser", "main_from_args", "pid_file"]

# What each `zapcharge charger ID WORD` does: (API action, body).
CHARGER_WORDS: dict[str, tuple[str, dict[str, Any]]] = {
    "reset": ("reset", {"kind": "Soft"}),
    "unlock": ("unlock", {}),
    "available": ("availability", {"available": True}),
    "unavailable": ("availability", {"available": False}),
    "refresh": ("refresh", {}),
}


def add_parser(commands: Any) -> None:
    sessions = commands.add_parser("sessions", help="list charging sessions (console API)")
    sessions.add_argument("--charger", help="only this charger's")
    sessions.add_argument("--state", help="only sessions in this state (charging, refunding...)")
    sessions.add_argument("--since", help="created since: 2026-12-01, an ISO time, 24h, 7d")
    sessions.add_argument("--day", help="created on this UTC day, YYYY-MM-DD")
    sessions.add_argument("--limit", type=int, default=200)
    sessions.add_argument("--json", action="store_true")
    sessions.add_argument("--url", help="the console's base URL (default: from [http] listen)")

    charger = commands.add_parser("charger", help="act on one charger (console API)")
    charger.add_argument("id")
    charger.add_argument("action", choices=sorted(CHARGER_WORDS))
    charger.add_argument("--hard", action="store_true", help="reset: a hard reset")
    charger.add_argument("--connector", type=int, help="unlock: 1 by default; (un)available: 0")
    charger.add_argument("--yes", action="store_true", help="do it without asking")
    charger.add_argument("--json", action="store_true")
    charger.add_argument("--url", help="the console's base URL (default: from [http] listen)")

    reload = commands.add_parser("reload", help="re-read identities/ in the running bot")
    reload.add_argument("--json", action="store_true")
    reload.add_argument("--url", help="the console's base URL (default: from [http] listen)")


def pid_file(config: Config) -> Path:
    """Where ``zapcharge run`` keeps its process id (for ``reload`` without a token)."""
    return config.service.pid_path


def main_from_args(args: argparse.Namespace) -> int:
    config = load_config(args.config, identities=False)
    if args.command == "sessions":
        return asyncio.run(_sessions(config, args))
    if args.command == "charger":
        return _charger(config, args)
    return _reload(config, args)


async def _sessions(config: Config, args: argparse.Namespace) -> int:
    client = ConsoleClient(console_url(config, args.url), config.console.token)
    query = {
        key: str(value)
        for key, value in (
            ("charger", args.charger),
            ("state", args.state),
            ("since", args.since),
            ("day", args.day),
            ("limit", args.limit),
        )
        if value is not None
    }
    sessions = (await client.get("/console/api/sessions", query))["sessions"]
    if args.json:
        print(json.dumps(sessions, indent=2))
        return 0
    rows = [
        (
            s["id"],
            f"{s['charger_id']}#{s['connector_id']}",
            s["state"],
            s["created_at"],
            f"{s['energy_wh'] / 1000:.3f}",
            s["paid_msat"] // 1000,
            s["cost_msat"] // 1000,
            _refund(s),
        )
        for s in sessions
    ]
    headings = ["session", "charger", "state", "created", "kWh", "paid sat", "cost sat", "refund"]
    print(format_table(headings, rows))
    return 0


def _refund(session: dict[str, Any]) -> str:
    refund = session["refund"]
    if refund is not None:
        return f"{refund['amount_msat'] // 1000} sat {refund['status']}"
    if session["refund_msat"]:
        return f"{session['refund_msat'] // 1000} sat due"
    return "-"


def _charger(config: Config, args: argparse.Namespace) -> int:
    action, body = CHARGER_WORDS[args.action]
    body = dict(body)
    if args.action == "reset" and args.hard:
        body["kind"] = "Hard"
    if args.connector is not None:
        body["connector"] = args.connector
    what = f"{args.action} charger {args.id}" + (" (hard)" if body.get("kind") == "Hard" else "")
    if not args.yes:
        if not sys.stdin.isatty():
            print(f"zapcharge charger: add --yes to {what} without being asked", file=sys.stderr)
            return 2
        if input(f"{what}? [y/N] ").strip().lower() not in ("y", "yes"):
            print("nothing done")
            return 1
    client = ConsoleClient(console_url(config, args.url), config.console.token)
    result = asyncio.run(client.post(f"/console/api/chargers/{args.id}/{action}", body))
    print(json.dumps(result, indent=2) if args.json else result["message"])
    return 0 if result["ok"] else 1


def _reload(config: Config, args: argparse.Namespace) -> int:
    if config.console.token is None:
        return _signal_reload(config)
    client = ConsoleClient(console_url(config, args.url), config.console.token)
    result = asyncio.run(client.post("/console/api/reload", {}))
    print(json.dumps(result, indent=2) if args.json else result["message"])
    return 0 if result["ok"] else 1


def _signal_reload(config: Config) -> int:
    """Without a token: SIGHUP to the running bot, which logs what the reload did."""
    path = pid_file(config)
    try:
        pid = int(path.read_text(encoding="ascii").strip())
        os.kill(pid, signal.SIGHUP)
    except (FileNotFoundError, ValueError, ProcessLookupError):
        print(f"zapcharge reload: no running bot found ({path})", file=sys.stderr)
        return 1
    print(f"sent SIGHUP to the bot (pid {pid}); its log says what changed")
    return 0
