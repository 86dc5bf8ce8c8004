"""The console's data, as plain JSON-ready dicts: the same for the pages and the API.

Nothing here holds a secret: no charger key or OCPP password (only the npub), no session
page token, no refund k1 or invoice, no preimage. Times are ISO 8601 UTC strings.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any, Protocol

from bot.config import ChargerConfig
from bot.console.auth import npub_of
from bot.ports import ChargerControl
from bot.pricing.point import PriceAt
from bot.sessions.record import Session
from bot.store.chargers import ChargerRow, ChargerStore, ConnectorState
from bot.store.console import ConsoleStore, MoneyRow, SessionFilter
from bot.store.db import Database
from bot.store.lnurl import LnurlStore
from bot.store.meter_log import transaction_chain, verify_chain
from bot.store.receipts import ReceiptStore

__all__ = ["Roster", "StaticRoster", "Views", "iso"]

log = logging.getLogger("bot.console")

ANOMALY_RAW_SHOWN = 300  # characters of a refused frame shown; the store keeps it whole


def iso(at: float | None) -> str | None:
    if at is None:
        return None
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Roster(Protocol):
    """The chargers configured right now (``zapcharge reload`` changes them)."""

    @property
    def chargers(self) -> Sequence[ChargerConfig]: ...

    def accepting(self, charger_id: str) -> bool:
        """False for a charger that was removed and only finishes its running sessions."""
        ...


class StaticRoster:
    def __init__(self, chargers: Sequence[ChargerConfig]) -> None:
        self.chargers = tuple(chargers)

    def accepting(self, charger_id: str) -> bool:
        return any(c.id == charger_id for c in self.chargers)


class Views:
    def __init__(
        self,
        roster: Roster,
        db: Database,
        control: ChargerControl,
        *,
        prices: PriceAt | None = None,
    ) -> None:
        self.roster = roster
        self.db = db
        self.control = control
        self.prices = prices
        self.store = ConsoleStore(db)
        self.chargers = ChargerStore(db)
        self.receipts = ReceiptStore(db)
        self.lnurl = LnurlStore(db)

    def charger_config(self, charger_id: str) -> ChargerConfig | None:
        return next((c for c in self.roster.chargers if c.id == charger_id), None)

    async def fleet(self, *, prices: bool = True) -> list[dict[str, Any]]:
        """Every charger, from two queries whatever the fleet's size; ``prices=False`` for
        the live stream, which sends only link and connector states."""
        rows = await self.store.charger_rows()
        statuses = await self.store.connector_rows()
        return [
            await self._summary(c, rows.get(c.id), statuses.get(c.id, {}), prices=prices)
            for c in self.roster.chargers
        ]

    async def charger_summary(self, charger: ChargerConfig) -> dict[str, Any]:
        row = await self.chargers.get(charger.id)
        return await self._summary(charger, row, await self.chargers.statuses(charger.id))

    async def _summary(
        self,
        charger: ChargerConfig,
        row: ChargerRow | None,
        statuses: Mapping[int, ConnectorState],
        *,
        prices: bool = True,
    ) -> dict[str, Any]:
        connectors = []
        for connector in charger.connectors:
            state = statuses.get(connector.id)
            connectors.append(
                {
                    "id": connector.id,
                    "type": connector.type,
                    "max_power_w": connector.max_power_w,
                    "status": state.status if state else "Unknown",
                    "error_code": state.error_code if state else None,
                    "info": state.info if state else None,
                    "updated_at": iso(state.updated_at) if state else None,
                }
            )
        return {
            "id": charger.id,
            "name": charger.name,
            "address": charger.address,
            "npub": charger.keys.npub,
            "online": self.control.is_online(charger.id),
            "accepting": self.roster.accepting(charger.id),
            "last_seen": iso(row.last_seen) if row else None,
            "booted_at": iso(row.booted_at) if row else None,
            "boot": asdict(row.boot) if row and row.boot else None,
            "connectors": connectors,
            "price": await self._price(charger) if prices else None,
        }

    async def _price(self, charger: ChargerConfig) -> dict[str, Any]:
        if self.prices is None:
            return {"msat_per_kwh": charger.tariff.price_msat_per_kwh, "origin": "tariff"}
        try:
            point = await self.prices.price_at(charger.id, datetime.now(UTC))
        except Exception as error:  # a broken feed must not take the page down
            log.warning("price of %s not available: %s", charger.id, error)
            return {"msat_per_kwh": charger.tariff.price_msat_per_kwh, "origin": "tariff"}
        return {
            "msat_per_kwh": point.msat_per_kwh,
            "origin": point.origin,
            "stale": point.stale,
            "valid_until": point.valid_until.isoformat() if point.valid_until else None,
        }

    async def charger(self, charger: ChargerConfig) -> dict[str, Any]:
        sessions = await self.sessions(SessionFilter(charger_id=charger.id, limit=50))
        anomalies = [
            {
                "at": iso(a.received_at),
                "kind": a.kind,
                "action": a.action,
                "code": a.code,
                "detail": a.detail,
                "raw": a.raw[:ANOMALY_RAW_SHOWN],
                "raw_length": a.raw_length,
            }
            for a in (await self.chargers.anomalies(charger.id))[-100:]
        ]
        rejects = [
            {"at": iso(r.seen_at), "code": r.code, "reason": r.reason}
            for r in (await self.receipts.rejects(charger.id))[-100:]
        ]
        meter_log = []
        for session in sessions:
            if session["transaction_id"] is None:
                continue
            verdict = await verify_chain(self.db, transaction_chain(session["transaction_id"]))
            meter_log.append(
                {
                    "session_id": session["id"],
                    "transaction_id": session["transaction_id"],
                    "rows": verdict.length,
                    "ok": verdict.ok,
                    "problems": list(verdict.problems),
                }
            )
        return {
            "charger": await self.charger_summary(charger),
            "sessions": sessions,
            "anomalies": anomalies,
            "receipt_rejects": rejects,
            "meter_log": meter_log,
        }

    async def sessions(self, query: SessionFilter) -> list[dict[str, Any]]:
        found = [Session.from_row(row) for row in await self.store.sessions(query)]
        ids = [s.id for s in found]
        refunds = await self.store.refunds(ids)
        notices = await self.store.notices(ids)
        return [
            session_json(
                s,
                asdict(refunds[s.id]) if s.id in refunds else None,
                [{"notice": n.notice, "at": iso(n.at)} for n in notices[s.id]],
            )
            for s in found
        ]

    async def session(self, session_id: str) -> dict[str, Any] | None:
        stored = await self.store.session(session_id)
        if stored is None:
            return None
        row = Session.from_row(stored)
        refunds = await self.store.refunds([row.id])
        notices = await self.store.notices([row.id])
        found = session_json(
            row,
            asdict(refunds[row.id]) if row.id in refunds else None,
            [{"notice": n.notice, "at": iso(n.at)} for n in notices[row.id]],
        )
        if row.transaction_id is not None:
            verdict = await verify_chain(self.db, transaction_chain(row.transaction_id))
            found["meter_log"] = {
                "rows": verdict.length,
                "ok": verdict.ok,
                "problems": list(verdict.problems),
            }
        return found

    async def money(self, since: float | None = None) -> dict[str, Any]:
        rows = await self.store.money(since)
        return {"rows": [asdict(r) for r in rows], "totals": money_totals(rows)}

    async def unclaimed(self) -> list[dict[str, Any]]:
        return [
            {
                "payment_hash": u.payment_hash,
                "label": u.label,
                "amount_msat": u.amount_msat,
                "paid_at": iso(u.paid_at),
                "reason": u.reason,
                "recorded_at": iso(u.recorded_at),
            }
            for u in await self.lnurl.unclaimed()
        ]

    async def outbox(self) -> list[dict[str, Any]]:
        names = {c.keys.public_key_hex: c.id for c in self.roster.chargers}
        return [
            {
                "id": q.id,
                "event_id": q.event_id,
                "kind": q.kind,
                "charger_id": names.get(q.pubkey),
                "relays": list(q.relays),
                "waiting_for": list(q.waiting_for),
                "attempts": q.attempts,
                "next_attempt_at": iso(q.next_attempt_at),
                "last_error": q.last_error,
                "created_at": iso(q.created_at),
            }
            for q in await self.store.queued_events()
        ]

    async def actions(self, limit: int = 100) -> list[dict[str, Any]]:
        return [{**asdict(a), "at": iso(a.at)} for a in await self.store.actions(limit)]


def session_json(
    s: Session, refund: dict[str, Any] | None, dms: list[dict[str, Any]]
) -> dict[str, Any]:
    """A session's receipt numbers, refund state and DMs; never its page token."""
    if refund is not None:
        refund = {**refund, "updated_at": iso(refund["updated_at"])}
    return {
        "id": s.id,
        "charger_id": s.charger_id,
        "connector_id": s.connector_id,
        "state": s.state.value,
        "payer": npub_of(s.payer_pubkey) if s.payer_pubkey else None,
        "price_msat_per_kwh": s.quote.price_msat_per_kwh,
        "paid_msat": s.paid_msat,
        "consumed_msat": s.consumed_msat,
        "fees_msat": s.fees_msat,
        "cost_msat": s.consumed_msat + s.fees_msat,
        "refund_msat": s.refund_msat,
        "waived_msat": s.waived_msat,
        "energy_wh": s.energy_wh,
        "minutes": s.minutes,
        "idle_minutes": s.idle_minutes,
        "stop_reason": s.stop_reason,
        "transaction_id": s.transaction_id,
        "payment_hash": s.payment_hash,
        "created_at": iso(s.created_at),
        "started_at": iso(s.started_at),
        "stopped_at": iso(s.stopped_at),
        "refund": refund,
        "dms": dms,
    }


def money_totals(rows: Sequence[MoneyRow]) -> dict[str, int]:
    names = ("sessions", "paid_msat", "kept_msat", "refunded_msat", "owed_msat", "in_flight_msat")
    return {name: sum(int(getattr(r, name)) for r in rows) for name in names}
