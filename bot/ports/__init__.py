"""The seams between the parts of the bot, as protocols.

The OCPP server, the nostr side and the HTTP side do not import each other or the session
layer; ``app.py`` passes each the objects that fill these protocols. Tests pass the real
ones too: these are seams for wiring, not for mocking.

Direction of calls::

    OCPP server  --ChargerEvents-->  sessions      (what a charger reported)
    sessions     --ChargerControl--> OCPP server   (commands to a charger)
    console      --ChargerOperations-> OCPP server (an operator's commands to a charger)
    console      --EventsRefresh---> nostr         (publish a charger's events again)
    fleet        --FleetListener---> every part    (chargers added, changed, removed)
    reservations --ChargerReservations-> OCPP server (ReserveNow / CancelReservation)
    sessions     --Messenger-------> nostr         (DMs to drivers)
    nostr        --DriverCommands--> sessions      (DM commands from drivers)
    sessions     --StatusSink------> nostr         (connector status changed)
    lightning    --PaidInvoices----> zaps          (an invoice of ours was paid)
    zaps         --SessionPayments-> sessions      (a session's quote or top-up is paid)
    lnurl        --RefundEvents----> sessions      (a driver's withdraw of a refund ended)
    nostr        --ZapReceiptFeed--> receipts      (an external zapper's receipts on relays)

The Lightning backend interface is :mod:`bot.ports.lightning`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Literal, Protocol

from bot.config import ChargerConfig
from bot.ports.lightning import Invoice

__all__ = [
    "ChargerControl",
    "ChargerEvents",
    "ChargerOperations",
    "ChargerReservations",
    "DriverCommands",
    "EventsRefresh",
    "FleetListener",
    "Messenger",
    "MeterSample",
    "OperatorTrigger",
    "PaidInvoices",
    "RefundEvents",
    "ReservationHolds",
    "ReservationPayments",
    "ResetKind",
    "SessionPayments",
    "StatusSink",
    "ZapReceiptFeed",
]


@dataclass(frozen=True)
class MeterSample:
    """One sampled value set from MeterValues or a transaction's meter data, normalised."""

    timestamp: str  # as the charger sent it (ISO 8601)
    context: str  # Sample.Periodic, Transaction.Begin, Transaction.End, ...
    energy_wh: float | None  # Energy.Active.Import.Register, converted to Wh
    power_w: float | None  # Power.Active.Import, converted to W
    soc_percent: float | None
    raw: str  # the charger's JSON for this sample, verbatim (signed data included)


class ChargerEvents(Protocol):
    """What chargers report. Called from OCPP handlers: store and return, never call back."""

    async def charger_online(self, charger_id: str, online: bool) -> None: ...

    async def connector_status(
        self, charger_id: str, connector_id: int, status: str, error_code: str
    ) -> None: ...

    async def authorize_start(self, charger_id: str, connector_id: int, id_tag: str) -> bool:
        """True when ``id_tag`` belongs to a paid session waiting on this connector."""
        ...

    async def transaction_started(
        self,
        charger_id: str,
        *,
        connector_id: int,
        id_tag: str,
        transaction_id: int,
        meter_start_wh: int,
        timestamp: str,
    ) -> None: ...

    async def meter_values(
        self,
        charger_id: str,
        connector_id: int,
        transaction_id: int | None,
        samples: Sequence[MeterSample],
    ) -> None: ...

    async def transaction_stopped(
        self,
        charger_id: str,
        *,
        transaction_id: int,
        meter_stop_wh: int,
        reason: str,
        timestamp: str,
        samples: Sequence[MeterSample],
    ) -> None: ...


class ChargerControl(Protocol):
    """Commands to chargers. Raise ChargerOffline / OcppError; never return a silent None."""

    def is_online(self, charger_id: str) -> bool: ...

    async def remote_start(self, charger_id: str, connector_id: int, id_tag: str) -> bool:
        """True when the charger answered Accepted."""
        ...

    async def remote_stop(self, charger_id: str, transaction_id: int) -> bool: ...

    async def set_sample_interval(self, charger_id: str, seconds: int) -> bool: ...

    async def limit_power(
        self, charger_id: str, connector_id: int, transaction_id: int, limit_w: int
    ) -> bool:
        """Cap this transaction's power at ``limit_w`` (OCPP 1.6 TxProfile); True if accepted."""
        ...


ResetKind = Literal["Soft", "Hard"]
# Messages every supported OCPP version can be asked to send again (1.6 TriggerMessage,
# 2.0.1 TriggerMessage with the same names).
OperatorTrigger = Literal["BootNotification", "Heartbeat", "MeterValues", "StatusNotification"]


class ChargerOperations(ChargerControl, Protocol):
    """An operator's commands to a charger, in words every charger protocol has.

    Each returns the charger's answer as it named it (``Accepted``, ``Rejected``,
    ``Scheduled``, ``Unlocked``, ``UnlockFailed``, ``NotSupported``, ...) or raises
    ChargerOffline / OcppError. Connector 0 in ``change_availability`` is the whole charger.
    A second protocol maps them onto its own messages (2.0.1: Reset OnIdle/Immediate,
    UnlockConnector with an EVSE, ChangeAvailability operationalStatus).
    """

    async def reset(self, charger_id: str, kind: ResetKind = "Soft") -> str: ...

    async def unlock_connector(self, charger_id: str, connector_id: int) -> str: ...

    async def change_availability(
        self, charger_id: str, connector_id: int, operative: bool
    ) -> str: ...

    async def trigger_message(
        self, charger_id: str, message: OperatorTrigger, connector_id: int | None = None
    ) -> str: ...


class EventsRefresh(Protocol):
    """Publish a charger's standing events (profile, relays, location) and status again."""

    async def refresh_charger(self, charger_id: str) -> int:
        """Queue them in the outbox now, changed or not; return how many were queued."""
        ...


class FleetListener(Protocol):
    """Told after a reload (``bot.fleet``) which chargers there are now.

    ``serving``: the chargers in identities/, which take new sessions. ``known``: those
    and the removed ones still finishing a session (their readings, stops, DMs and
    refunds must still work). A charger in neither is gone.
    """

    async def fleet_changed(
        self, serving: Sequence[ChargerConfig], known: Sequence[ChargerConfig]
    ) -> None: ...


class ChargerReservations(Protocol):
    """Reservations at a charger (OCPP 1.6 ReserveNow / CancelReservation). Kept apart from
    ChargerControl so that a control without them still fills that protocol.
    Raise ChargerOffline / OcppError; never return a silent None."""

    def is_online(self, charger_id: str) -> bool: ...

    async def reserve_now(
        self, charger_id: str, connector_id: int, *, until: float, id_tag: str, reservation_id: int
    ) -> str:
        """The charger's answer: Accepted, Faulted, Occupied, Rejected or Unavailable."""
        ...

    async def cancel_reservation(self, charger_id: str, reservation_id: int) -> bool: ...


class Messenger(Protocol):
    """Encrypted DMs from a charger's identity to a driver, delivered through the outbox."""

    async def send_dm(
        self,
        charger_id: str,
        recipient_pubkey: str,
        text: str,
        fallback_relays: Sequence[str] = (),
    ) -> None: ...

    async def lightning_address_of(self, pubkey: str) -> str | None:
        """The ``lud16`` of the driver's kind 0 profile, if any relay has one."""
        ...


class DriverCommands(Protocol):
    """A verified DM command (``status``, ``stop``, ``help``) from ``sender_pubkey``."""

    async def driver_command(self, charger_id: str, sender_pubkey: str, command: str) -> str:
        """Return the reply text to DM back."""
        ...


class StatusSink(Protocol):
    """Told when a charger's connector states change, so its status event is refreshed."""

    def charger_changed(self, charger_id: str) -> None: ...


class PaidInvoices(Protocol):
    async def invoice_paid(self, invoice: Invoice) -> None: ...


class SessionPayments(Protocol):
    """Told once an invoice that belongs to a session (its quote or a top-up) is paid.

    Called by the paid-invoice handler after the zap receipt is in the outbox; must be
    idempotent by ``payment_hash``: after a crash the same payment may be handed over again.
    """

    async def session_paid(self, payment_hash: str, amount_msat: int, paid_at: int) -> None: ...


class ReservationPayments(Protocol):
    """Told once a reservation's fee invoice is paid (idempotent by ``payment_hash``)."""

    async def charger_of(self, payment_hash: str) -> str | None:
        """The charger whose reservation this fee invoice is, or None if it is no fee."""
        ...

    async def reservation_paid(self, payment_hash: str, amount_msat: int, paid_at: int) -> None: ...


class ReservationHolds(Protocol):
    """The pay side, before it hands a reserved driver the invoice of their charge: point
    the charger's reservation at that session's idTag, so it and no other may start."""

    async def hold_for(self, reservation_id: int, id_tag: str) -> None:
        """Raises SessionError, ChargerOffline or OcppError when the charger does not."""
        ...


class RefundEvents(Protocol):
    """Told when a driver redeems a session's LNURL-withdraw link and the payment ends.

    ``paid`` True: the refund is paid (apply refund_paid). False: it failed for certain,
    the claim is released and the link is dead (apply refund_failed, offer a new link).
    A payment still in flight reports nothing; the refund row stays pending.
    """

    async def refund_settled(self, session_id: str, *, paid: bool, detail: str) -> None: ...


class ZapReceiptFeed(Protocol):
    """Kind 9735 zap receipts whose ``#p`` is one of ``pubkeys``, from the read relays."""

    def zap_receipts(
        self, pubkeys: Sequence[str], since: int
    ) -> AbstractAsyncContextManager[AsyncIterator[str]]:
        """Entered once the relays answered (EOSE); yields each receipt's JSON, forever,
        stored ones created at ``since`` or later first."""
        ...
