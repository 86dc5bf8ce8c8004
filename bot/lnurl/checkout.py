"""The LNURL-pay callback's work: from a checked query to an invoice and a quoted session.

Order matters, and each step is there for money:

1. the query and the zap request are checked (``protocol``, NIP-57 appendix D);
2. the charger must be able to start now, or the payer tops up their running session
   (``admission``): refusing before the invoice exists means no refund is ever needed;
3. the zap request's id is taken (single-use: a replay gets no second invoice);
4. the node issues the invoice, committing to sha256 of the exact zap request (or of the
   metadata for a plain LNURL payment);
5. the quote is fixed and stored as a session in ``quoted`` (a top-up has no quote of
   its own: it is billed at its session's), then the invoice row pointing at the session.

A crash between 4 and 5 leaves an invoice nobody can see: it expires unpaid. A crash
after the session and before the invoice row leaves a quoted session whose invoice the
session layer finds by ``payment_hash`` (its resume recipe asks the node).
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from bot.config import ChargerConfig, Config
from bot.errors import (
    ChargerOffline,
    LightningError,
    LnurlError,
    OcppError,
    SessionError,
    ZapInvalid,
)
from bot.lnurl.admission import HOLDING_STATES, ConnectorView, HeldBy, ReservedFor, admit
from bot.lnurl.hosts import loopback_deployment, usable_relays
from bot.lnurl.icon import charger_icon_base64
from bot.lnurl.payer import callback_url
from bot.lnurl.protocol import (
    PayOffer,
    Urls,
    charger_pay_offer,
    nip05_document,
    parse_pay_callback,
    parse_pay_name,
    pay_invoice_response,
    verify_response,
)
from bot.lnurl.quotes import offer_price_text, price_point_now
from bot.lnurl.reserve import admit_reservation, reservation_offer, wants_reservation
from bot.ports import ReservationHolds
from bot.ports.lightning import Invoice, InvoiceStatus, LightningBackend
from bot.pricing.point import PriceAt
from bot.reservations.book import ReservationBook
from bot.reservations.service import new_id_tag, new_token
from bot.sessions.quotes import Quoter, static_quote
from bot.sessions.records import SessionRecords
from bot.store.chargers import ChargerStore
from bot.store.db import Database
from bot.store.lightning import LightningStore
from bot.store.lnurl import LnurlStore

__all__ = ["INVOICE_LABEL_PREFIX", "Checkout", "PaySite"]

log = logging.getLogger(__name__)

INVOICE_LABEL_PREFIX = "zapcharge:pay:"
INVOICE_EXPIRY_S = 600  # as long as a zap request stays acceptable: pay now or ask again


@dataclass(frozen=True)
class PaySite:
    """What the pay side serves, from the config: chargers, URLs and relay policy."""

    urls: Urls
    domain: str
    chargers: Mapping[str, ChargerConfig]
    our_relays: tuple[str, ...]  # write relays: NIP-05 advertises them
    allow_loopback: bool  # our own relays are on loopback: accept loopback relays from payers

    @classmethod
    def from_config(cls, config: Config) -> PaySite:
        relays = tuple(r.url for r in config.relays)
        return cls(
            urls=Urls(config.service.public_url),
            domain=config.service.domain,
            chargers={c.id: c for c in config.chargers},
            our_relays=config.write_relays,
            allow_loopback=loopback_deployment(relays),
        )


class Checkout:
    def __init__(
        self,
        site: PaySite,
        db: Database,
        backend: LightningBackend,
        *,
        quote: Quoter = static_quote,
        prices: PriceAt | None = None,
        clock: Callable[[], float] = time.time,
        invoice_expiry_s: int = INVOICE_EXPIRY_S,
        holds: ReservationHolds | None = None,
    ) -> None:
        self.site, self.backend, self.quote, self.clock = site, backend, quote, clock
        self.holds = holds  # reservations: a reserved driver's charge takes their connector
        self.reservations = ReservationBook(db, clock=clock)
        self.prices = prices  # the price of the moment, shown in the offer's metadata
        self.invoice_expiry_s = invoice_expiry_s
        self.sessions = SessionRecords(db, clock=clock)
        self.invoices = LightningStore(db)
        self.store = LnurlStore(db)
        self.chargers = ChargerStore(db)  # what the OCPP layer knows: online, connector status

    async def offer(self, name: str, params: Mapping[str, str] | None = None) -> PayOffer:
        """The pay request behind ``/.well-known/lnurlp/<name>``; LnurlError if unknown.

        ``?reserve=1`` is the reservation's offer; ``?reservation=TOKEN`` (the reservation
        page's charge link) carries the token to the callback."""
        params = params or {}
        if params.get("reserve") == "1":
            return (await self._reservation_lookup(name))[2]
        offer = (await self._lookup(name))[2]
        token = params.get("reservation")
        if token is not None and await self.reservations.by_token(token) is not None:
            return replace(offer, callback=callback_url(offer.callback, {"reservation": token}))
        return offer

    async def invoice(self, name: str, params: Mapping[str, str]) -> dict[str, object]:
        """The callback: an invoice for a payment that can start (or top up) now."""
        if wants_reservation(params):
            return await self._reservation_invoice(name, params)
        charger, wanted, offer = await self._lookup(name)
        now = self.clock()
        callback = parse_pay_callback(params, offer, now=int(now))
        if callback.amount_msat < charger.tariff.min_sendable_msat:  # the offer's minimum
            raise LnurlError(  # is lowered to a reservation's fee, see _lookup
                f"amount is below the minimum of {charger.tariff.min_sendable_msat} msat for "
                "a charge; to reserve, zap the reservation fee with the comment 'reserve'"
            )
        zap = callback.zap
        payer = zap.sender_pubkey if zap is not None else None
        row = await self.chargers.get(charger.id)
        admission = admit(
            online=row is not None and row.online,
            connectors=await self._connectors(charger),
            wanted=wanted,
            payer_pubkey=payer,
            reservation_token=params.get("reservation"),
        )
        if zap is not None and not await self.store.reserve_zap_request(zap.id, payer or "", now):
            raise ZapInvalid("replayed", "this zap request was used before; sign a new one")
        description = callback.invoice_description(offer)
        invoice = await self._new_invoice(charger, callback.amount_msat, description)
        hold_tag = None
        if admission.topup is not None:
            session_id, token = admission.topup.session_id, admission.topup.token
            log.info("top-up invoice %s for session %s", invoice.payment_hash, session_id)
        else:
            relays = zap.relays if zap is not None else ()
            session = await self.sessions.create(
                charger.id,
                admission.connector_id,
                await self.quote(charger, now),
                payer_pubkey=payer,
                payer_relays=usable_relays(relays, allow_loopback=self.site.allow_loopback),
                payment_hash=invoice.payment_hash,
            )
            session_id, token, hold_tag = session.id, session.token, session.id_tag
            log.info("session %s quoted on %s/%d", session_id, charger.id, session.connector_id)
        await self.invoices.add_invoice(
            invoice,
            description=description,
            created_at=now,
            session_id=session_id,
            zap_request=zap.raw if zap is not None else None,
        )
        if admission.reservation is not None and hold_tag is not None:
            await self._hold(admission.reservation, hold_tag)
        return pay_invoice_response(
            invoice.bolt11,
            success_url=self.site.urls.session_page(token),
            verify_url=self.site.urls.verify(invoice.payment_hash),
        )

    async def _hold(self, reservation: ReservedFor, id_tag: str) -> None:
        """The charger holds the connector for this session's idTag from now on; if it does
        not, no invoice is handed out (the quoted session expires unpaid)."""
        if self.holds is None:
            raise LnurlError("reservations are not served here")
        try:
            await self.holds.hold_for(reservation.reservation_id, id_tag)
        except (SessionError, ChargerOffline, OcppError) as error:
            log.warning(
                "reservation %d not moved to the charge: %s", reservation.reservation_id, error
            )
            raise LnurlError("your reservation could not be moved to this charge; retry") from None

    def _named(self, name: str) -> tuple[ChargerConfig, int | None]:
        """The charger (and connector, if the name has one) a pay name stands for."""
        charger_id, connector_id = parse_pay_name(name)
        charger = self.site.chargers.get(charger_id)
        if charger is None or (connector_id is not None and not charger.connector(connector_id)):
            raise LnurlError(f"unknown payment name {name[:40]!r}")
        return charger, connector_id

    async def _reservation_lookup(self, name: str) -> tuple[ChargerConfig, int | None, PayOffer]:
        charger, connector_id = self._named(name)
        offer = reservation_offer(
            charger,
            self.site.urls,
            self.site.domain,
            connector_id=connector_id,
            image_png_base64=charger_icon_base64(),
        )
        return charger, connector_id, offer

    async def _reservation_invoice(self, name: str, params: Mapping[str, str]) -> dict[str, object]:
        """The fee invoice of a reservation; the same order as a charge (see the docstring)."""
        charger, wanted, offer = await self._reservation_lookup(name)
        tariff = charger.tariff
        assert tariff.reservation_fee_msat is not None and tariff.reservation_minutes is not None
        now = self.clock()
        callback = parse_pay_callback(params, offer, now=int(now))
        zap = callback.zap
        payer = zap.sender_pubkey if zap is not None else None
        row = await self.chargers.get(charger.id)
        connector_id = admit_reservation(
            online=row is not None and row.online,
            connectors=await self._connectors(charger),
            wanted=wanted,
            payer_pubkey=payer,
        )
        if zap is not None and not await self.store.reserve_zap_request(zap.id, payer or "", now):
            raise ZapInvalid("replayed", "this zap request was used before; sign a new one")
        description = callback.invoice_description(offer)
        invoice = await self._new_invoice(charger, callback.amount_msat, description)
        reservation = await self.reservations.open(
            charger.id,
            connector_id,
            token=new_token(),
            id_tag=new_id_tag(),
            payer_pubkey=payer,
            payer_relays=usable_relays(
                zap.relays if zap is not None else (), allow_loopback=self.site.allow_loopback
            ),
            quote=await self.quote(charger, now),
            payment_hash=invoice.payment_hash,
            fee_msat=tariff.reservation_fee_msat,
            minutes=tariff.reservation_minutes,
        )
        log.info("reservation %d quoted on %s/%d", reservation.id, charger.id, connector_id)
        await self.invoices.add_invoice(
            invoice,
            description=description,
            created_at=now,
            session_id=None,
            zap_request=zap.raw if zap is not None else None,
        )
        return pay_invoice_response(
            invoice.bolt11,
            success_url=self.site.urls.reservation_page(reservation.token),
            success_text="Your reservation",
            verify_url=self.site.urls.verify(invoice.payment_hash),
        )

    async def _new_invoice(
        self, charger: ChargerConfig, amount_msat: int, description: str
    ) -> Invoice:
        label = INVOICE_LABEL_PREFIX + secrets.token_hex(16)
        try:
            return await self.backend.create_invoice(
                amount_msat,
                label,
                description,
                expiry_s=self.invoice_expiry_s,
                description_hash_only=True,
            )
        except LightningError as exc:
            log.error("cannot create an invoice for %s: %s", charger.id, exc)
            raise LnurlError("cannot create an invoice right now; try again shortly") from None

    async def verify(self, payment_hash: str) -> dict[str, object]:
        """LUD-21: settled once our node reported the payment (the watcher records it)."""
        stored = await self.invoices.invoice(payment_hash)
        if stored is None:
            raise LnurlError("Not found")
        settled = stored.status is InvoiceStatus.PAID
        return verify_response(settled=settled, preimage=stored.preimage, pr=stored.bolt11)

    def nip05(self, name: str | None) -> dict[str, object]:
        """NIP-05 ``nostr.json``: one charger by name, or all of them without a name."""
        chargers = self.site.chargers
        names = {
            c.id: c.keys.public_key_hex
            for c in chargers.values()
            if name is None or c.id == name.lower()
        }
        return nip05_document(names, self.site.our_relays)

    async def _lookup(self, name: str) -> tuple[ChargerConfig, int | None, PayOffer]:
        charger, connector_id = self._named(name)
        offer = charger_pay_offer(
            charger,
            self.site.urls,
            self.site.domain,
            connector_id=connector_id,
            image_png_base64=charger_icon_base64(),
            price=offer_price_text(
                charger, await price_point_now(self.prices, charger, self.clock())
            ),
        )
        fee = charger.tariff.reservation_fee_msat
        if fee is not None and charger.tariff.reservations and fee < offer.min_sendable_msat:
            # A nostr client checks the amount against the offer before it zaps "reserve".
            offer = replace(offer, min_sendable_msat=fee)
        return charger, connector_id, offer

    async def _connectors(self, charger: ChargerConfig) -> Sequence[ConnectorView]:
        statuses = await self.chargers.statuses(charger.id)
        reservations = {
            r.connector_id: ReservedFor(r.id, r.payer_pubkey, r.token)
            for r in await self.reservations.holding(charger.id)
        }
        views = []
        for connector in charger.connectors:
            # Only holding states: unpaid quotes pile up and must not slow the callback.
            held = [
                HeldBy(s.id, s.token, s.state, s.payer_pubkey)
                for s in await self.sessions.active_on(charger.id, connector.id, HOLDING_STATES)
            ]
            state = statuses.get(connector.id)
            status = state.status if state is not None else None
            reserved = reservations.get(connector.id)
            views.append(ConnectorView(connector.id, status, held[0] if held else None, reserved))
        return views
