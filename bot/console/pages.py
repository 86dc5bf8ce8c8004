"""The console's pages, each rendered from the same dicts the JSON API returns.

Every page reads without JavaScript; ``live.js`` only refreshes the cells marked
``data-live`` from the event stream. Actions are links to a confirmation page whose form
(POST, with the session's CSRF token) does the work.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

from bot.console.actions import ACTIONS
from bot.console.chart import DayTotals, money_chart
from bot.console.html import action_button, e, msat, table
from bot.sessions.machine import State

__all__ = [
    "actions_page",
    "charger_page",
    "confirm_page",
    "fleet_page",
    "money_page",
    "outbox_page",
    "result_page",
    "session_page",
    "sessions_page",
    "unclaimed_page",
]

_STOPPABLE = {State.PAID.value, State.STARTING.value, State.CHARGING.value}


def _online(c: Mapping[str, Any]) -> str:
    word, cls = ("online", "ok") if c["online"] else ("offline", "bad")
    live = f'data-live="online:{e(c["id"])}"'
    text = f'<span class="{cls}" {live}>{word}</span>'
    return text if c["accepting"] else text + ' <span class="bad">removed: finishing</span>'


def _connectors(c: Mapping[str, Any]) -> str:
    return "<br>".join(
        f"#{k['id']} {e(k['type'])} {k['max_power_w'] // 1000} kW: "
        f'<span data-live="status:{e(c["id"])}:{k["id"]}">{e(k["status"])}</span>'
        for k in c["connectors"]
    )


def fleet_page(fleet: Sequence[Mapping[str, Any]]) -> str:
    rows = [
        (
            f'<a href="/console/chargers/{e(c["id"])}">{e(c["id"])}</a>',
            e(c["name"]),
            _online(c),
            e(c["last_seen"] or "never"),
            _connectors(c),
            f"{msat(c['price']['msat_per_kwh'])}/kWh <span class=muted>"
            f"{e(c['price'].get('origin', ''))}</span>",
        )
        for c in fleet
    ]
    online = sum(1 for c in fleet if c["online"])
    return (
        f"<p>{len(fleet)} charger(s), {online} online. "
        f"{action_button('reload', 'fleet', 'Reload chargers from identities/')}</p>"
        + table(["charger", "name", "link", "last seen", "connectors", "price now"], rows, raw=True)
    )


def _session_rows(sessions: Sequence[Mapping[str, Any]]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for s in sessions:
        refund = s["refund"]
        refund_text = f"{msat(refund['amount_msat'])} {e(refund['status'])}" if refund else "-"
        rows.append(
            (
                f'<a href="/console/sessions/{e(s["id"])}">{e(s["id"])}</a>',
                f'<a href="/console/chargers/{e(s["charger_id"])}">{e(s["charger_id"])}</a>'
                f"#{s['connector_id']}",
                e(s["state"]),
                e(s["created_at"]),
                f"{s['energy_wh'] / 1000:.3f} kWh",
                msat(s["paid_msat"]),
                msat(s["cost_msat"]),
                refund_text,
                e(", ".join(d["notice"] for d in s["dms"]) or "-"),
            )
        )
    return rows


_SESSION_HEADINGS = [
    "session",
    "charger",
    "state",
    "created",
    "energy",
    "paid",
    "cost",
    "refund",
    "DMs sent",
]


def sessions_page(sessions: Sequence[Mapping[str, Any]], query: Mapping[str, str]) -> str:
    states = "".join(
        f"<option{' selected' if query.get('state') == s.value else ''}>{s.value}</option>"
        for s in State
    )
    form = (
        '<form method="get" action="/console/sessions">'
        f'<label>charger <input name="charger" value="{e(query.get("charger", ""))}" size="10">'
        f'</label> <label>state <select name="state"><option value="">any</option>{states}'
        f'</select></label> <label>day <input name="day" type="date" '
        f'value="{e(query.get("day", ""))}"></label> <button>Filter</button></form>'
    )
    return form + table(_SESSION_HEADINGS, _session_rows(sessions), raw=True)


def charger_page(view: Mapping[str, Any]) -> str:
    c = view["charger"]
    cid = c["id"]
    boot = c["boot"] or {}
    buttons = " · ".join(
        [
            action_button("reset", cid, "Reset (soft)", {"kind": "Soft"}),
            action_button("reset", cid, "Reset (hard)", {"kind": "Hard"}),
            *(
                action_button("unlock", cid, f"Unlock #{k['id']}", {"connector": k["id"]})
                for k in c["connectors"]
            ),
            action_button("availability", cid, "Make available", {"available": "true"}),
            action_button("availability", cid, "Make unavailable", {"available": "false"}),
            action_button("trigger", cid, "Ask for status", {"message": "StatusNotification"}),
            action_button("refresh", cid, "Refresh nostr events"),
        ]
    )
    facts = table(
        ["", ""],
        [
            ("name", e(c["name"])),
            ("npub", e(c["npub"])),
            ("link", _online(c)),
            ("last seen", e(c["last_seen"] or "never")),
            ("booted", e(c["booted_at"] or "-")),
            ("model", e(" ".join(str(v) for v in boot.values() if v) or "-")),
            ("connectors", _connectors(c)),
            ("price now", f"{msat(c['price']['msat_per_kwh'])}/kWh"),
        ],
        raw=True,
    )
    meter = table(
        ["session", "transaction", "rows", "chain"],
        [
            (
                m["session_id"],
                m["transaction_id"],
                m["rows"],
                "intact" if m["ok"] else "BROKEN: " + "; ".join(m["problems"]),
            )
            for m in view["meter_log"]
        ],
    )
    faults = table(
        ["at", "kind", "action", "code", "detail"],
        [
            (a["at"], a["kind"], a["action"] or "", a["code"] or "", a["detail"])
            for a in view["anomalies"]
        ],
    )
    rejects = table(
        ["at", "code", "reason"],
        [(r["at"], r["code"], r["reason"]) for r in view["receipt_rejects"]],
    )
    return (
        f"{facts}<p>{buttons}</p><h2>Sessions</h2>"
        + table(_SESSION_HEADINGS, _session_rows(view["sessions"]), raw=True)
        + f"<h2>Meter log check</h2>{meter}<h2>Faults and anomalies</h2>{faults}"
        f"<h2>Refused zap receipts</h2>{rejects}"
    )


def session_page(s: Mapping[str, Any]) -> str:
    numbers = [
        ("state", s["state"]),
        ("charger", f"{s['charger_id']} connector {s['connector_id']}"),
        ("payer", s["payer"] or "a wallet without nostr"),
        ("price", f"{msat(s['price_msat_per_kwh'])}/kWh"),
        ("energy", f"{s['energy_wh'] / 1000:.3f} kWh in {s['minutes']} min"),
        ("paid", msat(s["paid_msat"])),
        ("energy and time", msat(s["consumed_msat"])),
        ("fees", msat(s["fees_msat"])),
        ("refund due", msat(s["refund_msat"])),
        ("waived", msat(s["waived_msat"])),
        ("stop reason", s["stop_reason"] or "-"),
        (
            "created / started / stopped",
            f"{s['created_at']} / {s['started_at'] or '-'} / {s['stopped_at'] or '-'}",
        ),
        ("payment hash", s["payment_hash"] or "-"),
    ]
    refund = s["refund"]
    refund_rows = (
        [
            ("amount", msat(refund["amount_msat"])),
            ("method", refund["method"]),
            ("status", refund["status"]),
            ("attempts", refund["attempts"]),
            ("last error", refund["error"] or "-"),
            ("updated", refund["updated_at"]),
        ]
        if refund
        else [("status", "no refund row")]
    )
    meter = s.get("meter_log")
    buttons = []
    if s["state"] in _STOPPABLE:
        buttons.append(action_button("stop", s["id"], "Stop this session"))
    if s["state"] == State.REFUNDING.value:
        buttons.append(action_button("retry-refund", s["id"], "Retry the refund now"))
    return (
        "<h2>Receipt</h2>"
        + table(["", ""], numbers)
        + f"<p>{' · '.join(buttons)}</p>"
        + "<h2>Refund</h2>"
        + table(["", ""], refund_rows)
        + "<h2>DMs sent</h2>"
        + table(["notice", "at"], [(d["notice"], d["at"]) for d in s["dms"]])
        + "<h2>Meter log</h2>"
        + (
            f"<p>{meter['rows']} readings, chain "
            f"{'intact' if meter['ok'] else 'BROKEN: ' + e('; '.join(meter['problems']))}</p>"
            if meter
            else "<p>no transaction</p>"
        )
    )


def money_page(money: Mapping[str, Any]) -> str:
    by_day: dict[str, list[int]] = {}
    for r in money["rows"]:
        totals = by_day.setdefault(r["day"], [0, 0, 0])
        totals[0] += r["paid_msat"]
        totals[1] += r["kept_msat"]
        totals[2] += r["refunded_msat"]
    chart = money_chart([DayTotals(day, *t) for day, t in sorted(by_day.items())])
    t = money["totals"]
    rows = [
        (
            r["day"],
            r["charger_id"],
            r["sessions"],
            msat(r["paid_msat"]),
            msat(r["kept_msat"]),
            msat(r["refunded_msat"]),
            msat(r["owed_msat"]),
            msat(r["in_flight_msat"]),
        )
        for r in money["rows"]
    ]
    rows.append(
        (
            "total",
            "",
            t["sessions"],
            msat(t["paid_msat"]),
            msat(t["kept_msat"]),
            msat(t["refunded_msat"]),
            msat(t["owed_msat"]),
            msat(t["in_flight_msat"]),
        )
    )
    return f'<figure>{chart}</figure><p><a href="/console/money.csv">Download CSV</a></p>' + table(
        ["day", "charger", "sessions", "paid", "kept", "refunded", "owed", "in flight"], rows
    )


def unclaimed_page(rows: Sequence[Mapping[str, Any]]) -> str:
    total = sum(r["amount_msat"] for r in rows)
    return (
        f"<p>{len(rows)} payment(s), {msat(total)}, that no session accounts for: refund "
        "them by hand (<code>zapcharge audit --unclaimed</code>).</p>"
        + table(
            ["payment hash", "label", "amount", "paid", "reason"],
            [
                (
                    r["payment_hash"],
                    r["label"],
                    msat(r["amount_msat"]),
                    r["paid_at"] or "-",
                    r["reason"],
                )
                for r in rows
            ],
        )
    )


def outbox_page(rows: Sequence[Mapping[str, Any]]) -> str:
    return f"<p>{len(rows)} event(s) waiting for a relay.</p>" + table(
        ["kind", "charger", "event", "waiting for", "attempts", "next try", "last error"],
        [
            (
                r["kind"],
                r["charger_id"] or "-",
                r["event_id"][:16] + "…",
                ", ".join(r["waiting_for"]),
                r["attempts"],
                r["next_attempt_at"],
                r["last_error"],
            )
            for r in rows
        ],
    )


def actions_page(rows: Sequence[Mapping[str, Any]]) -> str:
    return table(
        ["at", "operator", "action", "target", "parameters", "outcome", "detail"],
        [
            (
                r["at"],
                r["operator"],
                r["action"],
                r["target"],
                ", ".join(f"{k}={v}" for k, v in sorted(r["params"].items())),
                r["outcome"],
                r["detail"],
            )
            for r in rows
        ],
    )


def confirm_page(
    action: str, target: str, params: Mapping[str, Any], csrf: str, warning: str = ""
) -> str:
    spec = ACTIONS[action]
    hidden = "".join(
        f'<input type="hidden" name="{e(k)}" value="{e(v)}">'
        for k, v in params.items()
        if v is not None
    )
    shown = ", ".join(f"{k} = {v}" for k, v in params.items() if v is not None)
    back = (
        f"/console/sessions/{target}"
        if spec.target == "session"
        else (f"/console/chargers/{target}" if spec.target == "charger" else "/console")
    )
    return (
        f"<p><strong>{e(spec.title)}</strong> · {e(spec.target)} <code>{e(target)}</code>"
        f"{' · ' + e(shown) if shown else ''}</p><p>{e(spec.explain)}</p>"
        + (f'<p class="msg err">{e(warning)}</p>' if warning else "")
        + f'<form method="post" action="/console/do/{e(action)}/{e(target)}">{hidden}'
        f'<input type="hidden" name="csrf" value="{e(csrf)}">'
        '<input type="hidden" name="confirm" value="yes">'
        f'<button id="confirm">Yes, {e(spec.title.lower())}</button> '
        f'<a href="{e(back)}">Cancel</a></form>'
    )


def result_page(ok: bool, message: str, back: str) -> str:
    cls = "msg" if ok else "msg err"
    return f'<p class="{cls}" id="result">{e(message)}</p><p><a href="{e(back)}">Back</a></p>'


def sessions_query_string(query: Mapping[str, str]) -> str:
    return urlencode({k: v for k, v in query.items() if v})
