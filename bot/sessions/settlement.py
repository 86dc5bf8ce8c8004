"""Settlement: how a session's money splits into consumed, fees and the refund.

``paid = consumed + fees + refund`` holds exactly for every settlement. What a session
cost can exceed what was paid (an overshoot past the stop threshold, a charger that did
not stop): the driver is never asked for more, the excess is ``waived`` by the operator
and the refund is zero, never negative.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from bot.sessions.tariff import Cost, Quote, billable_idle_minutes, cost_breakdown

__all__ = [
    "Receipt",
    "Settlement",
    "energy_used_wh",
    "format_msat",
    "full_refund",
    "remainder_msat",
    "settle",
    "total_paid_msat",
]


@dataclass(frozen=True)
class Settlement:
    paid_msat: int  # the first payment and every top-up
    cost: Cost  # what the session cost by the quote, before capping at paid
    consumed_msat: int  # charged for energy, minutes and idle minutes
    fees_msat: int  # charged as the session fee
    refund_msat: int  # owed back to the driver
    waived_msat: int  # cost beyond what was paid: the operator's loss

    @property
    def due(self) -> bool:
        return self.refund_msat > 0


def total_paid_msat(first_msat: int, topups_msat: Iterable[int] = ()) -> int:
    amounts = [first_msat, *topups_msat]
    if min(amounts) < 0:
        raise ValueError("payments cannot be negative")
    return sum(amounts)


def remainder_msat(paid_msat: int, consumed_msat: int, fees_msat: int) -> int:
    """paid - consumed - fees, never below zero."""
    if min(paid_msat, consumed_msat, fees_msat) < 0:
        raise ValueError("amounts cannot be negative")
    return max(0, paid_msat - consumed_msat - fees_msat)


def energy_used_wh(meter_start_wh: int, meter_now_wh: float) -> int:
    """Whole Wh since meterStart, rounded down; a meter that went backwards counts as 0."""
    return max(0, math.floor(meter_now_wh) - meter_start_wh)


def settle(
    quote: Quote, paid_msat: int, energy_wh: int, minutes: int, idle_minutes: int
) -> Settlement:
    """The final numbers of a session that delivered ``energy_wh`` over ``minutes``."""
    if paid_msat < 0:
        raise ValueError("paid cannot be negative")
    cost = cost_breakdown(quote, energy_wh, minutes, idle_minutes)
    # The session fee was agreed before anything else; usage fills what is left.
    fees = min(cost.session_fee_msat, paid_msat)
    consumed = min(cost.total_msat - cost.session_fee_msat, paid_msat - fees)
    return Settlement(
        paid_msat=paid_msat,
        cost=cost,
        consumed_msat=consumed,
        fees_msat=fees,
        refund_msat=remainder_msat(paid_msat, consumed, fees),
        waived_msat=cost.total_msat - consumed - fees,
    )


def full_refund(paid_msat: int) -> Settlement:
    """A session that never delivered energy: everything goes back, no fee is kept."""
    if paid_msat < 0:
        raise ValueError("paid cannot be negative")
    return Settlement(paid_msat, Cost(0, 0, 0, 0), 0, 0, paid_msat, 0)


def format_msat(msat: int) -> str:
    """``1234567`` -> ``1,234.567 sat``; whole sats without decimals. Exact, no float."""
    sats, rest = divmod(abs(msat), 1000)
    sign = "-" if msat < 0 else ""
    return f"{sign}{sats:,}.{rest:03d} sat" if rest else f"{sign}{sats:,} sat"


@dataclass(frozen=True)
class Receipt:
    """The numbers of the final DM and the session page."""

    session_id: str
    charger_id: str
    connector_id: int
    quote: Quote
    settlement: Settlement
    energy_wh: int
    started_at: float | None = None
    stopped_at: float | None = None
    meter_start_wh: int | None = None
    meter_stop_wh: int | None = None
    topups: int = 0
    stop_reason: str | None = None
    idle_minutes: int = 0  # connected without drawing energy (car full or paused)

    def lines(self) -> list[tuple[str, str]]:
        s, q = self.settlement, self.quote
        rows = [
            ("Session", self.session_id),
            ("Charger", f"{self.charger_id} connector {self.connector_id}"),
            ("Start", _when(self.started_at)),
            ("Stop", _when(self.stopped_at)),
            ("Meter", f"{_wh(self.meter_start_wh)} -> {_wh(self.meter_stop_wh)}"),
            ("Energy", f"{self.energy_wh / 1000:.3f} kWh"),
            ("Price", f"{format_msat(q.price_msat_per_kwh)}/kWh" + self._fiat_price()),
            ("Paid", self._money(s.paid_msat) + _topups(self.topups)),
            ("Consumed", self._money(s.consumed_msat)),
            *self._idle(),
            ("Fees", self._money(s.fees_msat)),
            ("Refund", self._money(s.refund_msat)),
        ]
        if s.waived_msat:
            rows.append(("Waived", self._money(s.waived_msat)))
        if self.stop_reason:
            rows.append(("Stopped by", self.stop_reason.replace("_", " ")))
        return rows

    def _idle(self) -> list[tuple[str, str]]:
        """The idle fee as its own line (it is part of Consumed), when the quote has one."""
        q = self.quote
        if not q.idle_fee_msat_per_minute or not self.idle_minutes:
            return []
        billed = billable_idle_minutes(q, self.idle_minutes)
        return [
            (
                "Idle",
                f"{self.idle_minutes} min, {billed} billed after {q.idle_grace_minutes} min "
                f"grace at {format_msat(q.idle_fee_msat_per_minute)}/min: "
                + self._money(self.settlement.cost.idle_msat),
            )
        ]

    def text(self) -> str:
        return "\n".join(f"{label}: {value}" for label, value in self.lines())

    def _money(self, msat: int) -> str:
        fiat = self.quote.fiat
        if fiat is None:
            return format_msat(msat)
        approx = (Decimal(msat) / fiat.msat_per_unit).quantize(Decimal("0.01"))
        return f"{format_msat(msat)} (~{approx} {fiat.currency})"

    def _fiat_price(self) -> str:
        fiat = self.quote.fiat
        return f" ({fiat.price_per_kwh} {fiat.currency}/kWh)" if fiat else ""


def _when(at: float | None) -> str:
    if at is None:
        return "-"
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _topups(count: int) -> str:
    return "" if not count else f" incl. {count} top-up{'s' if count > 1 else ''}"


def _wh(value: int | None) -> str:
    return "-" if value is None else f"{value} Wh"
