"""Hand-made OCPP 2.0.1 messages for the tests: a TransactionEvent and its readings."""

from __future__ import annotations

from typing import Any

__all__ = ["reading", "transaction_event"]

STAMP = "2026-01-05T10:00:00.000Z"


def reading(energy_wh: float, context: str = "Sample.Periodic", at: str = STAMP) -> dict[str, Any]:
    return {
        "timestamp": at,
        "sampledValue": [
            {
                "value": energy_wh,
                "context": context,
                "measurand": "Energy.Active.Import.Register",
                "unitOfMeasure": {"unit": "Wh"},
            }
        ],
    }


def transaction_event(
    kind: str,
    seq_no: int,
    *,
    tx: str = "TX-1",
    energy_wh: float | None = None,
    token: str | None = None,
    trigger: str = "MeterValuePeriodic",
    **extra: Any,
) -> dict[str, Any]:
    """A TransactionEvent payload; ``extra`` goes into transactionInfo when it is one of its
    fields (chargingState, stoppedReason, remoteStartId), else into the payload."""
    info_keys = {"chargingState", "stoppedReason", "remoteStartId"}
    info = {"transactionId": tx, **{k: v for k, v in extra.items() if k in info_keys}}
    payload: dict[str, Any] = {
        "eventType": kind,
        "timestamp": STAMP,
        "triggerReason": trigger,
        "seqNo": seq_no,
        "transactionInfo": info,
        **{k: v for k, v in extra.items() if k not in info_keys},
    }
    if energy_wh is not None:
        context = {"Started": "Transaction.Begin", "Ended": "Transaction.End"}.get(
            kind, "Sample.Periodic"
        )
        payload["meterValue"] = [reading(energy_wh, context)]
    if token is not None:
        payload["idToken"] = {"idToken": token, "type": "Central"}
    return payload
