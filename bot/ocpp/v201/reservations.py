"""ReserveNow and CancelReservation in OCPP 2.0.1 words (the 1.6 ones are in
``bot.ocpp.commands``): the same seam, ``ChargerReservations``, for both protocols."""

from __future__ import annotations

from typing import Any, Literal

from bot.ocpp.commands import Command
from bot.ocpp.v201.commands import RequestStatus
from bot.ocpp.v201.frames import VERSION

__all__ = ["ReserveStatus", "cancel_reservation", "reserve_now"]

ReserveStatus = Literal["Accepted", "Faulted", "Occupied", "Rejected", "Unavailable"]


def reserve_now(
    evse_id: int, expiry_date: str, id_token: str, reservation_id: int
) -> Command[ReserveStatus]:
    """Our token is of type Central, as for RequestStartTransaction; the same ``id`` again
    replaces the reservation (2.0.1 H01.FR.02)."""
    payload = {
        "id": reservation_id,
        "expiryDateTime": expiry_date,
        "idToken": {"idToken": id_token, "type": "Central"},
        "evseId": evse_id,
    }
    return Command("ReserveNow", payload, _status, VERSION)


def cancel_reservation(reservation_id: int) -> Command[RequestStatus]:
    return Command("CancelReservation", {"reservationId": reservation_id}, _status, VERSION)


def _status(answer: dict[str, Any]) -> Any:
    return answer["status"]  # checked against the response schema before it gets here
