"""The OCPP 2.0.1 billing messages: TransactionEvent, MeterValues, StatusNotification.

How a 2.0.1 transaction becomes ours (docs/ocpp.md has the whole mapping):

* The first TransactionEvent with a new ``transactionId`` (a string the charger makes up)
  opens our ``transactions`` row, whose integer id is what the session layer and the meter
  log's chain ``tx:<id>`` use; ``ocpp201_transactions`` links the two. Our connector is the
  event's EVSE (from ``evse``, else from the ``remoteStartId`` we sent).
* The session's transaction starts (``transaction_started``) once the transaction has an
  idToken that the session layer accepts and a first energy register (the Begin reading):
  a station may open a transaction when the cable is plugged in, before either is known.
* Every event is taken once by ``seqNo``: one sent again is answered the same but not
  applied again; a jump is a gap (logged and kept as an anomaly); an older one arriving
  later (an ``offline`` replay) has its readings logged but is not reported as news.
* ``Ended`` stops the row at the register of its readings (or the latest one seen).

Every reading goes into the same hash-chained meter log as 1.6, in the same SQLite
transaction as the event's seqNo, so a repeated event never doubles a reading.

As the 1.6 billing messages, these are read field by field rather than against the JSON
schema: real stations break the schemas here, and a schema pass of one TransactionEvent
costs ~3 ms with the library's validators, ten times the rest of its handling.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from bot.log import charger_log
from bot.ocpp.billing import report_readings
from bot.ocpp.handlers import Handler, iso_time
from bot.ocpp.plausible import Allowance, register_problem
from bot.ocpp.readings import Notes, Unusable, integer, parse_timestamp, text
from bot.ocpp.v201.frames import ErrorCode
from bot.ocpp.v201.handlers import Context201
from bot.ocpp.v201.readings import latest_energy, meter_samples
from bot.ocpp.v201.status import CONNECTOR_STATUSES
from bot.ports import MeterSample
from bot.store.meter_log import MeterRecord, chain_for
from bot.store.ocpp201 import EventRecord, SeqOutcome, TxLink
from bot.store.transactions import NewTransaction, TransactionRow, TransactionStop

__all__ = ["Billing"]

log = logging.getLogger("bot.ocpp")

EVENT_TYPES = ("Started", "Updated", "Ended")


@dataclass(frozen=True)
class _Event:
    """One TransactionEvent, read leniently."""

    charger_tx_id: str
    event_type: str
    seq_no: int
    timestamp: str
    trigger_reason: str
    offline: bool
    id_token: str | None
    remote_start_id: int | None
    charging_state: str | None
    stopped_reason: str | None
    evse: dict[str, Any] | None
    samples: list[MeterSample]


class Billing:
    def __init__(self, context: Context201) -> None:
        self._context = context

    def handlers(self) -> dict[str, Handler]:
        return {
            "TransactionEvent": self.transaction_event,
            "MeterValues": self.meter_values,
            "StatusNotification": self.status_notification,
        }

    # -- TransactionEvent -------------------------------------------------------------------

    async def transaction_event(
        self, charger_id: str, payload: dict[str, Any], raw: str
    ) -> dict[str, Any]:
        base, notes, now = self._context.base, Notes(), self._context.base.clock()
        event = _read_event(payload, notes, iso_time(now))
        link = await self._context.store.link_of(charger_id, event.charger_tx_id)
        known = await base.transactions.get(link.transaction_id) if link else None
        if link is None:
            self._configured(charger_id, _evse_of(event.evse)[0], station=False)
        event = replace(event, samples=self._billable(known, event.samples, notes, now))
        await base.noted(charger_id, "TransactionEvent", notes, raw)
        if link is None:
            link = await self._open(charger_id, event, now)
        # The readings are written with the event's seqNo, never twice; also after a crash
        # between the two commits, when the station sends the first event again.
        records = self._records(charger_id, link, event.samples, now)
        outcome, link = await self._context.store.take_event(
            link.transaction_id,
            EventRecord(
                event.seq_no,
                event.event_type,
                event.trigger_reason,
                event.offline,
                event.timestamp,
                now,
            ),
            latest_energy(event.samples),
            records,
        )
        await self._note_sequence(charger_id, event, outcome, raw)
        row = await base.transactions.get(link.transaction_id)
        assert row is not None  # linked rows are never deleted
        row = await self._begin(charger_id, row, link, event, fresh=outcome.new)
        if outcome.new and not outcome.late:
            await self._track_state(charger_id, row, event)
            # Started carries the Begin reading (the start register), Ended goes with the stop.
            if row.authorized and event.samples and event.event_type == "Updated":
                await self._report_readings(charger_id, row, event.samples)
        if event.event_type == "Ended":
            await self._end(charger_id, row, link, event, now)
        return await self._answer(row, event.id_token)

    async def _open(self, charger_id: str, event: _Event, now: float) -> TxLink:
        """Our transaction row for a charger's transactionId seen for the first time."""
        context = self._context
        started = None
        if event.remote_start_id is not None:
            started = await context.store.remote_start(charger_id, event.remote_start_id)
        evse_id, connector_id = _evse_of(event.evse)
        if evse_id is None:
            evse_id = started.evse_id if started else 0
            await self._unapplied(
                charger_id,
                f"transaction {event.charger_tx_id} names no EVSE; taken as EVSE {evse_id}",
            )
        first = next((s.energy_wh for s in event.samples if s.energy_wh is not None), None)
        new = NewTransaction(
            charger_id=charger_id,
            connector_id=evse_id,
            id_tag="",  # filled in by _begin once the idToken is accepted
            authorized=False,
            meter_start_wh=round(first) if first is not None else 0,
            start_timestamp=event.timestamp,
            started_at=now,
        )
        link = TxLink(
            transaction_id=0,
            charger_id=charger_id,
            charger_tx_id=event.charger_tx_id,
            evse_id=evse_id,
            connector_id=connector_id,
            remote_start_id=started.remote_start_id if started else None,
            first_energy_wh=None,  # take_event fills both in from this event
            last_energy_wh=None,
        )

        def readings(transaction_id: int) -> Sequence[MeterRecord]:
            return []  # written with the event's seqNo (take_event)

        async def linked(tx: Any, transaction_id: int) -> None:
            await context.store.link_in(tx, _with_id(link, transaction_id))

        row, created = await context.base.transactions.start(new, readings, linked)
        if not created:  # the same EVSE, start time and register as another transaction
            raise Unusable(
                ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
                f"transaction {event.charger_tx_id} repeats the start of transaction {row.id}",
            )
        charger_log(log, charger_id).info(
            "transaction %d is the charger's %r on EVSE %d (%s)",
            row.id,
            event.charger_tx_id,
            evse_id,
            event.trigger_reason,
        )
        return _with_id(link, row.id)

    async def _begin(
        self, charger_id: str, row: TransactionRow, link: TxLink, event: _Event, *, fresh: bool
    ) -> TransactionRow:
        """Authorize the transaction once its idToken and first register are known."""
        context = self._context
        if row.authorized:
            if not fresh:
                await self._started(charger_id, row)  # a repeat: tell the sessions again
            return row
        token = event.id_token
        if token is None and link.remote_start_id is not None:
            started = await context.store.remote_start(charger_id, link.remote_start_id)
            token = started.id_token if started else None
        if token is None or link.first_energy_wh is None or row.id_tag == token or not row.open:
            return row
        busy = await context.base.transactions.open_with_tag(token)
        authorized = busy is None and await context.base.events.authorize_start(
            charger_id, row.connector_id, token
        )
        row = await context.base.transactions.begin(
            row.id, id_tag=token, authorized=authorized, meter_start_wh=round(link.first_energy_wh)
        )
        clog = charger_log(log, charger_id)
        if not authorized:
            clog.warning("transaction %d: idToken %s refused", row.id, token)
            return row
        clog.info(
            "transaction %d started on EVSE %d at %d Wh",
            row.id,
            row.connector_id,
            row.meter_start_wh,
        )
        await self._started(charger_id, row)
        return row

    async def _started(self, charger_id: str, row: TransactionRow) -> None:
        await self._context.base.events.transaction_started(
            charger_id,
            connector_id=row.connector_id,
            id_tag=row.id_tag,
            transaction_id=row.id,
            meter_start_wh=row.meter_start_wh,
            timestamp=row.start_timestamp,
        )

    async def _end(
        self, charger_id: str, row: TransactionRow, link: TxLink, event: _Event, now: float
    ) -> None:
        base = self._context.base
        register = latest_energy(event.samples)
        if register is None:
            register = link.last_energy_wh
        stop = TransactionStop(
            meter_stop_wh=round(register) if register is not None else row.meter_start_wh,
            stop_timestamp=event.timestamp,
            stopped_at=now,
            reason=event.stopped_reason or "Local",  # the spec's default
            id_tag=event.id_token,
        )
        if row.open:
            row = await base.transactions.stop(row.id, stop, []) or row
            charger_log(log, charger_id).info(
                "transaction %d ended (%s) at %d Wh", row.id, stop.reason, stop.meter_stop_wh
            )
        if row.authorized and row.meter_stop_wh is not None:
            await base.events.transaction_stopped(
                charger_id,
                transaction_id=row.id,
                meter_stop_wh=row.meter_stop_wh,
                reason=row.stop_reason or stop.reason,
                timestamp=row.stop_timestamp or stop.stop_timestamp,
                samples=event.samples,
            )

    async def _answer(self, row: TransactionRow, token: str | None) -> dict[str, Any]:
        if token is None:
            return {}
        if row.authorized and row.id_tag == token:
            return {"idTokenInfo": {"status": "Accepted"}}
        busy = await self._context.base.transactions.open_with_tag(token)
        status = "ConcurrentTx" if busy is not None and busy.id != row.id else "Invalid"
        return {"idTokenInfo": {"status": status}}

    async def _track_state(self, charger_id: str, row: TransactionRow, event: _Event) -> None:
        states = self._context.states(charger_id)
        ended = event.event_type == "Ended"
        status = states.transaction(row.connector_id, event.charging_state, ended=ended)
        info = f"2.0.1 chargingState {event.charging_state or '-'}"
        await self._context.evse_status(
            charger_id, row.connector_id, status, info, parse_timestamp(event.timestamp)
        )

    async def _note_sequence(
        self, charger_id: str, event: _Event, outcome: SeqOutcome, raw: str
    ) -> None:
        clog = charger_log(log, charger_id)
        if not outcome.new:
            clog.info(
                "TransactionEvent %s seqNo %d repeated: answered, not applied again",
                event.charger_tx_id,
                event.seq_no,
            )
        elif outcome.missing:
            await self._unapplied(
                charger_id,
                f"transaction {event.charger_tx_id}: seqNo {outcome.missing[0]}"
                f"..{outcome.missing[-1]} missing before {event.seq_no}",
                raw,
            )
        elif outcome.late:
            clog.info(
                "TransactionEvent %s seqNo %d arrived late (offline=%s): readings logged",
                event.charger_tx_id,
                event.seq_no,
                event.offline,
            )

    async def _report_readings(
        self, charger_id: str, row: TransactionRow, samples: Sequence[MeterSample]
    ) -> None:
        await report_readings(
            self._context.base.events, charger_id, row.connector_id, row.id, samples
        )

    # -- MeterValues and StatusNotification -------------------------------------------------

    async def meter_values(
        self, charger_id: str, payload: dict[str, Any], raw: str
    ) -> dict[str, Any]:
        """Readings outside TransactionEvent: the EVSE's open transaction, else its chain."""
        base, notes, now = self._context.base, Notes(), self._context.base.clock()
        evse_id = self._configured(charger_id, integer(payload, "evseId", notes), station=True)
        samples = meter_samples(
            payload.get("meterValue"), fallback_timestamp=iso_time(now), notes=notes
        )
        if not samples:
            raise Unusable(ErrorCode.OCCURRENCE_CONSTRAINT_VIOLATION, "no usable meterValue")
        row = await base.transactions.latest_on(charger_id, evse_id)
        ending = any(s.context == "Transaction.End" for s in samples)
        if row is not None and not (row.open or ending):
            row = None
        samples = self._billable(row, samples, notes, now)
        await base.noted(charger_id, "MeterValues", notes, raw)
        chain = chain_for(charger_id, evse_id, row.id if row else None)
        await base.meter_log.append(
            [
                _record(charger_id, evse_id, row.id if row else None, s, chain=chain, at=now)
                for s in samples
            ]
        )
        if row is None or row.authorized:
            await report_readings(
                base.events, charger_id, evse_id, row.id if row else None, samples
            )
        return {}

    async def status_notification(
        self, charger_id: str, payload: dict[str, Any], raw: str
    ) -> dict[str, Any]:
        base, notes = self._context.base, Notes()
        evse_id = self._configured(charger_id, integer(payload, "evseId", notes), station=False)
        connector_id = integer(payload, "connectorId", notes)
        status = text(payload, "connectorStatus", notes)
        if status not in CONNECTOR_STATUSES:
            raise Unusable(
                ErrorCode.PROPERTY_CONSTRAINT_VIOLATION, f"unknown connectorStatus {status[:40]!r}"
            )
        stamp = payload.get("timestamp")
        reported = parse_timestamp(stamp) if isinstance(stamp, str) else None
        await base.noted(charger_id, "StatusNotification", notes, raw)
        changed = self._context.states(charger_id).connector(evse_id, connector_id, status)
        info = f"2.0.1 connector {connector_id}: {status}"
        await self._context.evse_status(charger_id, evse_id, changed, info, reported)
        return {}

    # -- helpers ----------------------------------------------------------------------------

    def _configured(self, charger_id: str, evse_id: int | None, *, station: bool) -> int:
        """An EVSE id that is one of our configured connectors (0, the station, if allowed)."""
        if evse_id is None or (evse_id == 0 and station):
            return evse_id or 0
        charger = self._context.base.config.charger(charger_id)
        if charger is None or charger.connector(evse_id) is None:
            configured = ", ".join(str(c.id) for c in charger.connectors) if charger else ""
            raise Unusable(
                ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
                f"EVSE {evse_id} is not configured (configured: {configured})",
            )
        return evse_id

    def _billable(
        self,
        row: TransactionRow | None,
        samples: Sequence[MeterSample],
        notes: Notes,
        now: float,
    ) -> list[MeterSample]:
        """``samples`` with every register that cannot be true taken out (kept in ``raw``);
        the same rules as 1.6 (:mod:`bot.ocpp.plausible`), once the start register is known."""
        allowance = self._allowance(row) if row is not None and row.authorized else None
        kept = []
        for sample in samples:
            energy = sample.energy_wh
            problem = (
                None
                if energy is None
                else register_problem(energy, allowance, timestamp=sample.timestamp, now=now)
            )
            if problem is not None:
                notes.dropped.append(problem)
            kept.append(sample if problem is None else replace(sample, energy_wh=None))
        return kept

    def _allowance(self, row: TransactionRow) -> Allowance:
        charger = self._context.base.config.charger(row.charger_id)
        connector = charger.connector(row.connector_id) if charger else None
        powers = [c.max_power_w for c in (charger.connectors if charger else ())]
        max_power = connector.max_power_w if connector else max(powers, default=0)
        return Allowance(row.meter_start_wh, row.start_timestamp, row.started_at, max_power)

    def _records(
        self, charger_id: str, link: TxLink, samples: Sequence[MeterSample], now: float
    ) -> list[MeterRecord]:
        chain = chain_for(charger_id, link.evse_id, link.transaction_id)
        return [
            _record(charger_id, link.evse_id, link.transaction_id, s, chain=chain, at=now)
            for s in samples
        ]

    async def _unapplied(self, charger_id: str, detail: str, raw: str = "") -> None:
        base = self._context.base
        charger_log(log, charger_id).warning("TransactionEvent: %s", detail)
        await base.chargers.record_anomaly(
            charger_id,
            at=base.clock(),
            kind="unapplied",
            detail=detail,
            raw=raw,
            action="TransactionEvent",
        )


def _read_event(payload: dict[str, Any], notes: Notes, now_iso: str) -> _Event:
    info = payload.get("transactionInfo")
    if not isinstance(info, dict):
        raise Unusable(ErrorCode.OCCURRENCE_CONSTRAINT_VIOLATION, "transactionInfo is missing")
    charger_tx_id = text(info, "transactionId", notes)
    if not 0 < len(charger_tx_id) <= 36:
        raise Unusable(
            ErrorCode.PROPERTY_CONSTRAINT_VIOLATION, "transactionId must be 1-36 characters"
        )
    event_type = text(payload, "eventType", notes)
    if event_type not in EVENT_TYPES:
        raise Unusable(
            ErrorCode.PROPERTY_CONSTRAINT_VIOLATION, f"unknown eventType {event_type[:40]!r}"
        )
    seq_no = integer(payload, "seqNo", notes)
    if not 0 <= seq_no < 2**62:
        raise Unusable(ErrorCode.PROPERTY_CONSTRAINT_VIOLATION, "seqNo is out of range")
    timestamp = text(payload, "timestamp", notes, default=now_iso)
    token = payload.get("idToken")
    remote = info.get("remoteStartId")
    evse = payload.get("evse")
    return _Event(
        charger_tx_id=charger_tx_id,
        event_type=event_type,
        seq_no=seq_no,
        timestamp=timestamp,
        trigger_reason=text(payload, "triggerReason", notes, default="Unknown"),
        offline=payload.get("offline") is True,
        id_token=_str(token.get("idToken")) if isinstance(token, dict) else None,
        remote_start_id=remote if _is_int(remote) else None,
        charging_state=_str(info.get("chargingState")),
        stopped_reason=_str(info.get("stoppedReason")),
        evse=evse if isinstance(evse, dict) else None,
        samples=meter_samples(payload.get("meterValue"), fallback_timestamp=timestamp, notes=notes),
    )


def _evse_of(evse: dict[str, Any] | None) -> tuple[int | None, int]:
    evse_id = None if evse is None else evse.get("id")
    if evse is None or not isinstance(evse_id, int) or isinstance(evse_id, bool) or evse_id < 0:
        return None, 1
    connector = evse.get("connectorId")
    return evse_id, connector if isinstance(connector, int) and _is_int(connector) else 1


def _with_id(link: TxLink, transaction_id: int) -> TxLink:
    return replace(link, transaction_id=transaction_id)


def _record(
    charger_id: str,
    connector_id: int,
    transaction_id: int | None,
    sample: MeterSample,
    *,
    chain: str,
    at: float,
) -> MeterRecord:
    return MeterRecord(
        chain=chain,
        charger_id=charger_id,
        connector_id=connector_id,
        transaction_id=transaction_id,
        sampled_at=sample.timestamp,
        received_at=at,
        context=sample.context,
        energy_wh=sample.energy_wh,
        power_w=sample.power_w,
        soc_percent=sample.soc_percent,
        raw=sample.raw,
    )


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
