"""May this payment start a session now, and on which connector? Rules without I/O.

The LNURL callback asks before it issues an invoice, so a driver is never handed an
invoice for a charger that cannot start: money refused up front needs no refund.

- A zap from the payer of a session that is running on the charger tops that session up
  (its budget grows at its own quote); a running session is one that is paid, starting or
  charging. Stopping sessions take no more money: it would only be refunded.
- Otherwise the charger must be online and the connector free: no session past its
  payment still holds it (quoted sessions do not: anyone may ask for invoices, so unpaid
  ones must not lock a charger), and its OCPP status is Available or Preparing.
  Preparing is admitted on purpose: it is what a connector reports when a driver plugs in
  first and pays second, the usual order at a real charger.
- A connector held by a paid reservation (``bot.reservations``) takes only its driver's
  payment: the zap request's author, or a wallet-only driver showing the reservation's
  token. That payment goes to the reserved connector first, whatever its OCPP status says
  (Reserved, or Preparing once the car is plugged in); everyone else is refused there.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field

from bot.errors import LnurlError
from bot.sessions.machine import TOPUP_STATES, State

__all__ = [
    "HOLDING_STATES",
    "STARTABLE_STATUSES",
    "TOPUP_ACCEPTING",
    "Admission",
    "ConnectorView",
    "HeldBy",
    "ReservedFor",
    "admit",
]

STARTABLE_STATUSES = frozenset({"Available", "Preparing"})
# From paid on, a session owns its connector until its transaction has ended.
HOLDING_STATES = TOPUP_STATES
TOPUP_ACCEPTING = frozenset({State.PAID, State.STARTING, State.CHARGING})


@dataclass(frozen=True)
class HeldBy:
    """The session that holds a connector."""

    session_id: str
    token: str = field(repr=False)
    state: State
    payer_pubkey: str | None


@dataclass(frozen=True)
class ReservedFor:
    """The paid reservation that holds a connector for one driver."""

    reservation_id: int
    payer_pubkey: str | None
    token: str = field(repr=False)

    def is_for(self, payer_pubkey: str | None, token: str | None) -> bool:
        if token is not None and secrets.compare_digest(token, self.token):
            return True
        return payer_pubkey is not None and payer_pubkey == self.payer_pubkey


@dataclass(frozen=True)
class ConnectorView:
    """One configured connector as the store sees it now."""

    id: int
    status: str | None  # OCPP StatusNotification status; None: never reported
    held_by: HeldBy | None = None
    reserved_for: ReservedFor | None = None


@dataclass(frozen=True)
class Admission:
    """Where the payment goes: a new session on ``connector_id``, or a top-up of ``topup``."""

    connector_id: int
    topup: HeldBy | None = None
    reservation: ReservedFor | None = None  # the payer's own reservation of that connector


def admit(
    *,
    online: bool,
    connectors: Sequence[ConnectorView],
    wanted: int | None,
    payer_pubkey: str | None,
    reservation_token: str | None = None,
) -> Admission:
    """Decide, or raise LnurlError with the reason the wallet shows."""
    candidates = [c for c in connectors if wanted is None or c.id == wanted]
    if not candidates:
        raise LnurlError(f"this charger has no connector {wanted}")
    if payer_pubkey is not None:
        for connector in candidates:
            held = connector.held_by
            if held is not None and held.payer_pubkey == payer_pubkey:
                if held.state not in TOPUP_ACCEPTING:
                    raise LnurlError("your session here is stopping; it takes no more money")
                return Admission(connector.id, topup=held)
    if not online:
        raise LnurlError("the charger is offline; try again when it is back")
    for connector in candidates:
        reserved = connector.reserved_for
        if reserved is not None and reserved.is_for(payer_pubkey, reservation_token):
            if connector.held_by is not None:
                raise LnurlError(f"connector {connector.id} is in use by another session")
            return Admission(connector.id, reservation=reserved)
    refusals = []
    for connector in candidates:
        refusal = _refusal(connector)
        if refusal is None:
            return Admission(connector.id)
        refusals.append(refusal)
    if len(refusals) == 1:
        raise LnurlError(refusals[0])
    raise LnurlError("no connector is free: " + "; ".join(refusals))


def _refusal(connector: ConnectorView) -> str | None:
    if connector.held_by is not None:
        return f"connector {connector.id} is in use by another session"
    if connector.reserved_for is not None:
        return f"connector {connector.id} is reserved for another driver"
    if connector.status is None:
        return f"connector {connector.id} has not reported its status yet"
    if connector.status not in STARTABLE_STATUSES:
        return f"connector {connector.id} is {connector.status}, not Available"
    return None
