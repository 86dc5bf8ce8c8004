"""A charging session's record: what is stored of it, and which fields may change.

Plain data, no I/O: :mod:`bot.sessions.records` reads and writes it (every state change
through the table), the pure parts (metering, idle time, settlement) compute from it.
:class:`SessionFields` names every updatable field, so ``apply(..., stop_reson=...)`` is
a mypy error (and a SessionError at run time). Identity, state and money-in fields are not
in it: the state moves only through a transition, ``paid_msat`` grows only through top-ups
(or is set once by ``invoice_paid``).
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field
from typing import Any, Protocol, TypedDict

from bot.sessions.machine import State
from bot.sessions.tariff import Quote

__all__ = [
    "MUTABLE_FIELDS",
    "Columns",
    "RefundOrigin",
    "Session",
    "SessionFields",
    "TopUp",
    "TopUpResult",
]


class Columns(Protocol):
    """A stored row as the store hands it over: its columns by name."""

    def __getitem__(self, name: str) -> Any: ...


class SessionFields(TypedDict, total=False):
    """The fields a transition or an update may set."""

    paid_msat: int
    consumed_msat: int
    fees_msat: int
    refund_msat: int | None
    waived_msat: int
    transaction_id: int | None
    meter_start_wh: int | None
    meter_stop_wh: int | None
    energy_wh: int
    minutes: int
    idle_minutes: int
    last_meter_at: float | None
    stop_reason: str | None
    started_at: float | None
    stopped_at: float | None
    start_deadline: float | None
    start_accepted_at: float | None
    stop_requested_at: float | None
    progress_wh: int
    progress_at: float | None


MUTABLE_FIELDS = frozenset(SessionFields.__annotations__)


class RefundOrigin(Protocol):
    """Where a refund-only session comes from: a session, or a reservation whose fee goes back."""

    @property
    def charger_id(self) -> str: ...
    @property
    def connector_id(self) -> int: ...
    @property
    def payer_pubkey(self) -> str | None: ...
    @property
    def payer_relays(self) -> tuple[str, ...]: ...
    @property
    def quote(self) -> Quote: ...


@dataclass(frozen=True)
class Session:
    id: str
    charger_id: str
    connector_id: int
    state: State
    token: str = field(repr=False)  # the page's bearer secret
    id_tag: str
    payer_pubkey: str | None
    payer_relays: tuple[str, ...]
    quote: Quote
    payment_hash: str | None
    paid_msat: int
    consumed_msat: int
    fees_msat: int
    refund_msat: int | None
    waived_msat: int
    transaction_id: int | None
    meter_start_wh: int | None
    meter_stop_wh: int | None
    energy_wh: int
    minutes: int
    idle_minutes: int
    last_meter_at: float | None
    stop_reason: str | None
    created_at: float
    updated_at: float
    started_at: float | None
    stopped_at: float | None
    start_deadline: float | None
    start_accepted_at: float | None
    stop_requested_at: float | None
    progress_wh: int
    progress_at: float | None

    @classmethod
    def from_row(cls, row: Columns) -> Session:
        values = {name: row[name] for name in cls.__dataclass_fields__}
        values["state"] = State(row["state"])
        values["payer_relays"] = tuple(json.loads(row["payer_relays"]))
        values["quote"] = Quote.from_json(row["quote"])
        return cls(**values)


class TopUpResult(enum.Enum):
    APPLIED = "applied"
    ALREADY_APPLIED = "already_applied"  # the same invoice was counted before
    REFUSED = "refused"  # the session no longer takes money: refund this payment alone


@dataclass(frozen=True)
class TopUp:
    payment_hash: str
    session_id: str
    amount_msat: int
    payer_pubkey: str | None
    created_at: float
