"""The money chart, drawn on the server as SVG: paid, kept and refunded per day.

No script and no library: one ``<rect>`` per bar, a few grid lines and labels, so the page
shows it with JavaScript off and a screen reader gets the numbers from each bar's
``<title>``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

__all__ = ["SERIES", "DayTotals", "money_chart"]

SERIES = (
    ("paid_msat", "paid", "#4a7bd0"),
    ("kept_msat", "kept", "#3a9d5d"),
    ("refunded_msat", "refunded", "#d08a3a"),
)
_WIDTH, _HEIGHT = 720, 260
_LEFT, _BOTTOM, _TOP = 70, 40, 20


@dataclass(frozen=True)
class DayTotals:
    day: str
    paid_msat: int
    kept_msat: int
    refunded_msat: int


def _sats(msat: int) -> str:
    return f"{msat // 1000:,} sat"


def money_chart(days: Sequence[DayTotals], title: str = "Money per day") -> str:
    plot_h = _HEIGHT - _BOTTOM - _TOP
    top = max([max(d.paid_msat, d.kept_msat, d.refunded_msat) for d in days] + [1000])
    slot = (_WIDTH - _LEFT - 10) / max(1, len(days))
    bar = max(2.0, min(24.0, slot / (len(SERIES) + 1)))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_WIDTH} {_HEIGHT}" '
        f'width="{_WIDTH}" height="{_HEIGHT}" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
    ]
    for step in range(5):
        value = top * step // 4
        y = _TOP + plot_h - plot_h * step / 4
        parts.append(
            f'<line x1="{_LEFT}" y1="{y:.1f}" x2="{_WIDTH - 10}" y2="{y:.1f}" stroke="#ddd"/>'
            f'<text x="{_LEFT - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end">'
            f"{escape(_sats(value))}</text>"
        )
    for index, day in enumerate(days):
        x0 = _LEFT + index * slot + (slot - bar * len(SERIES)) / 2
        for number, (field, label, colour) in enumerate(SERIES):
            value = int(getattr(day, field))
            height = plot_h * value / top
            x = x0 + number * bar
            y = _TOP + plot_h - height
            parts.append(
                f'<rect class="bar {label}" x="{x:.1f}" y="{y:.1f}" width="{bar - 1:.1f}" '
                f'height="{height:.1f}" fill="{colour}"><title>{escape(day.day)} {label}: '
                f"{escape(_sats(value))}</title></rect>"
            )
        parts.append(
            f'<text x="{x0 + bar * len(SERIES) / 2:.1f}" y="{_HEIGHT - _BOTTOM + 16}" '
            f'font-size="11" text-anchor="middle">{escape(day.day[5:])}</text>'
        )
    for number, (_, label, colour) in enumerate(SERIES):
        x = _LEFT + number * 110
        parts.append(
            f'<rect x="{x}" y="{_HEIGHT - 14}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{x + 14}" y="{_HEIGHT - 5}" font-size="11">{label}</text>'
        )
    if not days:
        parts.append(
            f'<text x="{_WIDTH / 2}" y="{_HEIGHT / 2}" text-anchor="middle">no payments yet</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
