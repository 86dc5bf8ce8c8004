"""The billing messages: StartTransaction, StopTransaction, MeterValues, StatusNotification.

Each is stored first (transactions, the hash-chained meter log, connector status) and then
reported to :class:`~bot.ports.ChargerEvents`. Start and stop are idempotent: a charger that
sends one again (it never saw our answer, or we answered InternalError because the event
failed) gets the same answer and the event is delivered again, so event implementations
must accept a repeated ``transaction_started`` / ``transaction_stopped``.

Which transaction a reading belongs to: its ``transactionId`` when it names one of this
charger's transactions (open or already stopped: late ``Transaction.End`` readings arrive
after StopTransaction, sometimes after a reconnect); without one, the connector's open
transaction; without that, readings in a ``Transaction.End`` context go to the connector's
newest transaction. Everything else is logged in the connector's own chain.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from bot.log import charger_log
from bot.ocpp.frames import ErrorCode
from bot.ocpp.handlers import Context, Handler, iso_time
from bot.ocpp.plausible import Allowance, register_problem
from bot.ocpp.readings import Notes, Unusable, integer, meter_samples, parse_timestamp, text
from bot.ports import ChargerEvents, MeterSample
from bot.store.chargers import ConnectorState
from bot.store.meter_log import MeterRecord, chain_for
from bot.store.transactions import NewTransaction, TransactionRow, TransactionStop

__all__ = ["CONNECTOR_STATUSES", "Billing"]

log = logging.getLogger("bot.ocpp")

CONNECTOR_STATUSES = frozenset(
    {
        "Available",
        "Preparing",
        "Charging",
        "SuspendedEVSE",
        "SuspendedEV",
        "Finishing",
        "Reserved",
        "Unavailable",
        "Faulted",
    }
)


async def report_readings(
    events: ChargerEvents,
    charger_id: str,
    connector_id: int,
    transaction_id: int | None,
    samples: Sequence[MeterSample],
) -> None:
    """Tell the session layer about readings that are stored already, in either protocol.
    A failure there is logged, not answered: the next reading carries the register again,
    and an error would only make the charger send the same samples twice."""
    try:
        await events.meter_values(charger_id, connector_id, transaction_id, samples)
    except Exception:
        charger_log(log, charger_id).exception("meter_values event failed")


def _required_list(payload: dict[str, Any], name: str) -> list[Any]:
    value = payload.get(name)
    if value is None or value == []:
        raise Unusable(ErrorCode.OCCURENCE_CONSTRAINT_VIOLATION, f"{name} is missing or empty")
    if not isinstance(value, list):
        raise Unusable(ErrorCode.TYPE_CONSTRAINT_VIOLATION, f"{name} is not an array")
    return value


def _charger_time(timestamp: str, now: float) -> str | None:
    """The charger's own timestamp, or None where we filled in ours (it sent none)."""
    return None if timestamp == iso_time(now) else timestamp


def _compact(payload: dict[str, Any]) -> str:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


class Billing:
    def __init__(self, context: Context) -> None:
        self._context = context

    def handlers(self) -> dict[str, Handler]:
        return {
            "StartTransaction": self.start_transaction,
            "StopTransaction": self.stop_transaction,
            "MeterValues": self.meter_values,
            "StatusNotification": self.status_notification,
        }

    def _record(
        self,
        charger_id: str,
        connector_id: int,
        transaction_id: int | None,
        sample: MeterSample,
        *,
        chain: str | None = None,
        received_at: float,
    ) -> MeterRecord:
        return MeterRecord(
            chain=chain or chain_for(charger_id, connector_id, transaction_id),
            charger_id=charger_id,
            connector_id=connector_id,
            transaction_id=transaction_id,
            sampled_at=sample.timestamp,
            received_at=received_at,
            context=sample.context,
            energy_wh=sample.energy_wh,
            power_w=sample.power_w,
            soc_percent=sample.soc_percent,
            raw=sample.raw,
        )

    async def start_transaction(
        self, charger_id: str, payload: dict[str, Any], raw: str
    ) -> dict[str, Any]:
        context, notes, now = self._context, Notes(), self._context.clock()
        new = NewTransaction(
            charger_id=charger_id,
            connector_id=self._connector(charger_id, payload, notes, whole_charger=False),
            id_tag=text(payload, "idTag", notes),
            authorized=False,
            meter_start_wh=integer(payload, "meterStart", notes, minimum=0),
            start_timestamp=text(payload, "timestamp", notes, default=iso_time(now)),
            started_at=now,
        )
        await context.noted(charger_id, "StartTransaction", notes, raw)
        row = await context.transactions.find_start(new)
        if row is None:
            row = await self._open(new, payload, now)
        else:
            charger_log(log, charger_id).info("StartTransaction repeated: transaction %d", row.id)
        if row.authorized:
            context.remote_starts.done(charger_id, row.id_tag)
            await context.events.transaction_started(
                charger_id,
                connector_id=row.connector_id,
                id_tag=row.id_tag,
                transaction_id=row.id,
                meter_start_wh=row.meter_start_wh,
                timestamp=row.start_timestamp,
            )
        status = "Accepted" if row.authorized else "Invalid"
        return {"transactionId": row.id, "idTagInfo": {"status": status}}

    async def _open(
        self, new: NewTransaction, payload: dict[str, Any], now: float
    ) -> TransactionRow:
        context = self._context
        busy = await context.transactions.open_with_tag(new.id_tag)
        authorized = busy is None and await context.events.authorize_start(
            new.charger_id, new.connector_id, new.id_tag
        )
        begin = MeterSample(
            new.start_timestamp,
            "Transaction.Begin",
            float(new.meter_start_wh),
            None,
            None,
            _compact(payload),
        )

        def readings(transaction_id: int) -> Sequence[MeterRecord]:
            return [
                self._record(
                    new.charger_id, new.connector_id, transaction_id, begin, received_at=now
                )
            ]

        row, _ = await context.transactions.start(replace(new, authorized=authorized), readings)
        clog = charger_log(log, new.charger_id)
        if authorized:
            clog.info(
                "transaction %d started on connector %d at %d Wh",
                row.id,
                row.connector_id,
                row.meter_start_wh,
            )
        else:
            clog.warning(
                "transaction %d on connector %d refused: idTag %s %s",
                row.id,
                row.connector_id,
                new.id_tag,
                "already in use" if busy else "not authorized",
            )
        return row

    async def stop_transaction(
        self, charger_id: str, payload: dict[str, Any], raw: str
    ) -> dict[str, Any]:
        context, notes, now = self._context, Notes(), self._context.clock()
        transaction_id = integer(payload, "transactionId", notes)
        meter_stop = integer(payload, "meterStop", notes)
        timestamp = text(payload, "timestamp", notes, default=iso_time(now))
        row = await self._own_transaction(charger_id, transaction_id)
        allowance = self._allowance(row) if row is not None else None
        problem = register_problem(
            meter_stop, allowance, timestamp=_charger_time(timestamp, now), now=now
        )
        if problem is not None and row is not None:
            # The stop itself is taken (the charger has ended the transaction), its
            # register is not: billing goes on from the last plausible reading.
            notes.dropped.append(f"meterStop: {problem}")
            meter_stop = row.meter_start_wh
        stop = TransactionStop(
            meter_stop_wh=meter_stop,
            stop_timestamp=timestamp,
            stopped_at=now,
            reason=payload["reason"] if isinstance(payload.get("reason"), str) else "Local",
            id_tag=payload["idTag"] if isinstance(payload.get("idTag"), str) else None,
        )
        samples = meter_samples(
            payload.get("transactionData", []), fallback_timestamp=stop.stop_timestamp, notes=notes
        )
        samples = self._billable(samples, allowance, notes, now)
        await context.noted(charger_id, "StopTransaction", notes, raw)
        answer: dict[str, Any] = {"idTagInfo": {"status": "Accepted"}} if stop.id_tag else {}
        if row is None:
            await self._unapplied(
                charger_id, "StopTransaction", raw, f"unknown transaction {transaction_id}"
            )
            await self._log_orphans(charger_id, transaction_id, samples, now)
            return answer
        if not row.open and not row.same_stop(stop):
            await self._unapplied(
                charger_id,
                "StopTransaction",
                raw,
                f"transaction {row.id} was already stopped differently",
            )
            return answer
        if row.open:
            body = {k: v for k, v in payload.items() if k != "transactionData"}
            end = MeterSample(
                stop.stop_timestamp,
                "Transaction.End",
                float(stop.meter_stop_wh),
                None,
                None,
                _compact(body),
            )
            readings = [
                self._record(charger_id, row.connector_id, row.id, s, received_at=now)
                for s in [*samples, end]
            ]
            stopped = await context.transactions.stop(row.id, stop, readings)
            row = stopped or row
            charger_log(log, charger_id).info(
                "transaction %d stopped (%s) at %d Wh", row.id, stop.reason, stop.meter_stop_wh
            )
        if row.authorized:
            await context.events.transaction_stopped(
                charger_id,
                transaction_id=row.id,
                meter_stop_wh=stop.meter_stop_wh,
                reason=stop.reason,
                timestamp=stop.stop_timestamp,
                samples=samples,
            )
        return answer

    async def meter_values(
        self, charger_id: str, payload: dict[str, Any], raw: str
    ) -> dict[str, Any]:
        context, notes, now = self._context, Notes(), self._context.clock()
        connector_id = self._connector(charger_id, payload, notes, whole_charger=True)
        # Quirk: "transactionId": null outside transactions.
        has_id = payload.get("transactionId") is not None
        named = integer(payload, "transactionId", notes) if has_id else None
        samples = meter_samples(
            _required_list(payload, "meterValue"), fallback_timestamp=iso_time(now), notes=notes
        )
        if not samples:
            raise Unusable(ErrorCode.OCCURENCE_CONSTRAINT_VIOLATION, "no usable meterValue")
        row = await self._reading_target(charger_id, connector_id, named, samples)
        if named is not None and row is None:
            notes.dropped.append(f"transactionId {named} is not a transaction of this charger")
        samples = self._billable(samples, self._allowance(row) if row else None, notes, now)
        await context.noted(charger_id, "MeterValues", notes, raw)
        connector = row.connector_id if row else connector_id
        chain = chain_for(charger_id, connector, row.id if row else None)
        transaction_id = row.id if row else named
        records = [
            self._record(charger_id, connector, transaction_id, s, chain=chain, received_at=now)
            for s in samples
        ]
        await context.meter_log.append(records)
        if row is None or row.authorized:
            await report_readings(
                context.events, charger_id, connector, row.id if row else None, samples
            )
        return {}

    async def status_notification(
        self, charger_id: str, payload: dict[str, Any], raw: str
    ) -> dict[str, Any]:
        context, notes, now = self._context, Notes(), self._context.clock()
        connector_id = self._connector(charger_id, payload, notes, whole_charger=True)
        status = text(payload, "status", notes)
        if status not in CONNECTOR_STATUSES:
            raise Unusable(
                ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
                f"status {status[:40]!r} is not an OCPP 1.6 ChargePointStatus",
            )
        error_code = text(payload, "errorCode", notes, default="NoError")
        info = payload.get("info") if isinstance(payload.get("info"), str) else None
        stamp = payload.get("timestamp")
        reported = parse_timestamp(stamp) if isinstance(stamp, str) else None
        await context.noted(charger_id, "StatusNotification", notes, raw)
        await context.chargers.set_status(
            charger_id, ConnectorState(connector_id, status, error_code, info, reported, now)
        )
        try:
            await context.events.connector_status(charger_id, connector_id, status, error_code)
        except Exception:
            charger_log(log, charger_id).exception("connector_status event failed")
        return {}

    def _connector(
        self, charger_id: str, payload: dict[str, Any], notes: Notes, *, whole_charger: bool
    ) -> int:
        """The connectorId, if it is configured (0, the charger itself, where allowed)."""
        connector_id = integer(payload, "connectorId", notes)
        if connector_id == 0 and whole_charger:
            return 0
        charger = self._context.config.charger(charger_id)
        if charger is None or charger.connector(connector_id) is None:
            configured = ", ".join(str(c.id) for c in charger.connectors) if charger else ""
            raise Unusable(
                ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
                f"connectorId {connector_id} is not configured (configured: {configured})",
            )
        return connector_id

    def _allowance(self, row: TransactionRow) -> Allowance:
        charger = self._context.config.charger(row.charger_id)
        connector = charger.connector(row.connector_id) if charger else None
        # A transaction on a connector no longer configured: the charger's largest one.
        powers = [c.max_power_w for c in (charger.connectors if charger else ())]
        max_power = connector.max_power_w if connector else max(powers, default=0)
        return Allowance(row.meter_start_wh, row.start_timestamp, row.started_at, max_power)

    def _billable(
        self,
        samples: Sequence[MeterSample],
        allowance: Allowance | None,
        notes: Notes,
        now: float,
    ) -> list[MeterSample]:
        """``samples`` with every register that cannot be true taken out (kept in ``raw``)."""
        kept = []
        for sample in samples:
            energy = sample.energy_wh
            problem = (
                None
                if energy is None
                else register_problem(
                    energy, allowance, timestamp=_charger_time(sample.timestamp, now), now=now
                )
            )
            if problem is not None:
                notes.dropped.append(problem)
            kept.append(sample if problem is None else replace(sample, energy_wh=None))
        return kept

    async def _own_transaction(self, charger_id: str, transaction_id: int) -> TransactionRow | None:
        row = await self._context.transactions.get(transaction_id)
        return row if row is not None and row.charger_id == charger_id else None

    async def _reading_target(
        self, charger_id: str, connector_id: int, named: int | None, samples: Sequence[MeterSample]
    ) -> TransactionRow | None:
        if named is not None:
            return await self._own_transaction(charger_id, named)
        latest = await self._context.transactions.latest_on(charger_id, connector_id)
        if latest is None:
            return None
        if latest.open or any(s.context == "Transaction.End" for s in samples):
            return latest
        return None

    async def _unapplied(self, charger_id: str, action: str, raw: str, detail: str) -> None:
        charger_log(log, charger_id).warning("%s not applied: %s", action, detail)
        await self._context.chargers.record_anomaly(
            charger_id,
            at=self._context.clock(),
            kind="unapplied",
            detail=detail,
            raw=raw,
            action=action,
        )

    async def _log_orphans(
        self, charger_id: str, transaction_id: int, samples: Sequence[MeterSample], now: float
    ) -> None:
        """Readings of a transaction we do not know go to connector 0's chain, kept anyway."""
        chain = chain_for(charger_id, 0, None)
        records = [
            self._record(charger_id, 0, transaction_id, s, chain=chain, received_at=now)
            for s in samples
        ]
        await self._context.meter_log.append(records)
