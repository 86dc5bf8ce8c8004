"""The console's HTML frame: layout, tables, forms and the log-in page. No template engine:
every value goes through :func:`e` (``html.escape``) on its way in."""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

__all__ = [
    "HEADERS",
    "action_button",
    "e",
    "layout",
    "login_page",
    "msat",
    "table",
]

HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "same-origin",  # Chromium sends "Origin: null" with no-referrer
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'",
}

_STYLE = """body{font-family:system-ui,sans-serif;margin:0;color:#222}
header{background:#1d2b3a;color:#fff;padding:.6em 1em;display:flex;flex-wrap:wrap;gap:1.2em;
align-items:center}
header a{color:#fff;text-decoration:none}header a.here{text-decoration:underline}
header form{margin-left:auto}main{padding:1em 1.5em}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border-bottom:1px solid #ddd;
padding:.3em .7em;text-align:left;vertical-align:top}th{background:#f3f5f7}
.ok{color:#2a7d46}.bad{color:#b3261e}.muted{color:#777}form.inline{display:inline}
.msg{padding:.6em 1em;background:#eef5ee;border:1px solid #9c9}.err{background:#fbeeee;
border-color:#d99}#live{font-size:.8em}"""

_NAV = (
    ("fleet", "/console", "Fleet"),
    ("sessions", "/console/sessions", "Sessions"),
    ("money", "/console/money", "Money"),
    ("unclaimed", "/console/unclaimed", "Unclaimed"),
    ("outbox", "/console/outbox", "Outbox"),
    ("actions", "/console/actions", "Actions log"),
)


def e(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def msat(value: int | None) -> str:
    if value is None:
        return "-"
    sats, rest = divmod(abs(value), 1000)
    sign = "-" if value < 0 else ""
    return f"{sign}{sats:,}.{rest:03d} sat" if rest else f"{sign}{sats:,} sat"


def layout(title: str, here: str, body: str, *, operator: str, csrf: str) -> str:
    nav = "".join(
        f'<a href="{href}"{" class=here" if key == here else ""}>{label}</a>'
        for key, href, label in _NAV
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{e(title)} · Zapcharge console</title><style>{_STYLE}</style></head>"
        f'<body><header><strong>Zapcharge</strong>{nav}<span id="live" class="muted"></span>'
        f'<form class="inline" method="post" action="/console/logout">'
        f'<input type="hidden" name="csrf" value="{e(csrf)}">'
        f'<span class="muted">{e(operator[:20])}…</span> <button>Log out</button></form></header>'
        f"<main><h1>{e(title)}</h1>{body}</main>"
        '<script src="/console/static/live.js"></script></body></html>'
    )


def table(
    headings: Sequence[str], rows: Iterable[Sequence[str]], *, raw: bool = False, cls: str = ""
) -> str:
    """A table; cells are escaped unless ``raw`` (cells built from escaped parts)."""
    # A key/value table has no headings: then no header row either.
    head = "".join(f"<th>{e(h)}</th>" for h in headings) if any(headings) else ""
    body = "".join(
        "<tr>" + "".join(f"<td>{c if raw else e(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    if not body:
        body = f'<tr><td colspan="{len(headings)}" class="muted">nothing here</td></tr>'
    thead = f"<thead><tr>{head}</tr></thead>" if head else ""
    return f'<table class="{e(cls)}">{thead}<tbody>{body}</tbody></table>'


def action_button(action: str, target: str, label: str, params: Mapping[str, Any] = {}) -> str:
    """A link to the confirmation page of one action (a GET: nothing happens yet)."""
    query = f"?{urlencode(params)}" if params else ""
    href = f"/console/confirm/{action}/{target}{query}"
    return f'<a class="action" href="{e(href)}">{e(label)}</a>'


def login_page(login_url: str, reason: str, next_path: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Log in · Zapcharge console</title><style>{_STYLE}</style></head><body>"
        "<header><strong>Zapcharge console</strong></header><main><h1>Log in</h1>"
        f'<p class="muted">{e(reason)}</p>'
        "<p>Operators log in with their nostr key (NIP-98): a kind 27235 event for "
        f"<code>POST {e(login_url)}</code>, signed within the last minute.</p>"
        '<p><button id="nip07" hidden>Log in with your nostr signer (NIP-07)</button> '
        '<span id="login-msg"></span></p>'
        f'<form id="login" method="post" action="/console/login" data-login-url="{e(login_url)}"'
        f' data-next="{e(next_path)}">'
        "<p><label>Or paste a signed event (JSON or base64):<br>"
        '<textarea name="event" rows="6" cols="80"></textarea></label></p>'
        f'<input type="hidden" name="next" value="{e(next_path)}">'
        "<button>Log in</button></form>"
        '</main><script src="/console/static/login.js"></script></body></html>'
    )
