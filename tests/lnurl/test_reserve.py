"""Paying for a reservation over LNURL: which payments ask for one, the exact-fee offer,
and where a reservation (and a reserved driver's charge) may go. Rules without I/O."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from bot.errors import LnurlError
from bot.lnurl.admission import Admission, ConnectorView, HeldBy, ReservedFor, admit
from bot.lnurl.protocol import Urls
from bot.lnurl.reserve import admit_reservation, reservation_offer, wants_reservation
from bot.sessions.machine import State
from tests.nostr.support import make_charger

PAYER = "aa" * 32
OTHER = "bb" * 32
MINE = ReservedFor(7, PAYER, "page-token")


@pytest.mark.parametrize(
    ("params", "wanted"),
    [
        ({"amount": "1000", "reserve": "1"}, True),
        ({"amount": "1000", "reserve": "0"}, False),
        ({"amount": "1000", "comment": " Reserve "}, True),
        ({"amount": "1000", "nostr": json.dumps({"content": "reserve", "kind": 9734})}, True),
        ({"amount": "1000", "nostr": json.dumps({"content": "reserve it please"})}, False),
        ({"amount": "1000", "nostr": "not json"}, False),
        ({"amount": "1000", "nostr": "[1, 2]"}, False),
        ({"amount": "1000"}, False),
    ],
)
def test_which_payments_ask_for_a_reservation(params: dict[str, str], wanted: bool) -> None:
    assert wants_reservation(params) is wanted


def test_the_offer_asks_for_exactly_the_fee() -> None:
    charger = make_charger()
    tariff = replace(charger.tariff, reservation_minutes=15.0, reservation_fee_msat=300_000)
    offer = reservation_offer(
        replace(charger, tariff=tariff),
        Urls("https://charge.example.org"),
        "charge.example.org",
        connector_id=2,
    )
    assert offer.min_sendable_msat == offer.max_sendable_msat == 300_000
    assert offer.callback == "https://charge.example.org/lnurlp/cp-001.2/callback?reserve=1"
    assert "Reserve Harbour charger 1, connector 2 for 15 min · 300 sat" in offer.metadata
    assert offer.nostr_pubkey == charger.keys.public_key_hex


def test_no_offer_without_reservation_terms() -> None:
    with pytest.raises(LnurlError, match="takes no reservations"):
        reservation_offer(make_charger(), Urls("https://x.org"), "x.org", connector_id=None)


def _reserve(views: list[ConnectorView], wanted: int | None = None, payer: str = PAYER) -> int:
    return admit_reservation(online=True, connectors=views, wanted=wanted, payer_pubkey=payer)


def test_a_reservation_takes_an_available_connector_only() -> None:
    views = [
        ConnectorView(1, "Preparing"),
        ConnectorView(2, "Available", reserved_for=ReservedFor(3, OTHER, "t")),
        ConnectorView(3, "Available"),
    ]
    assert _reserve(views) == 3
    with pytest.raises(LnurlError, match="connector 1 is Preparing"):
        _reserve(views, wanted=1)
    with pytest.raises(LnurlError, match="connector 2 is reserved"):
        _reserve(views, wanted=2)
    busy = [ConnectorView(1, "Available", HeldBy("s", "t", State.PAID, OTHER))]
    with pytest.raises(LnurlError, match="connector 1 is in use"):
        _reserve(busy)
    with pytest.raises(LnurlError, match="offline"):
        admit_reservation(online=False, connectors=views, wanted=None, payer_pubkey=PAYER)


def test_one_reservation_per_driver_and_charger() -> None:
    views = [ConnectorView(1, "Reserved", reserved_for=MINE), ConnectorView(2, "Available")]
    with pytest.raises(LnurlError, match="already have a reservation"):
        _reserve(views)
    assert _reserve(views, payer=OTHER) == 2


def test_a_reserved_connector_takes_only_its_drivers_charge() -> None:
    views = [ConnectorView(1, "Reserved", reserved_for=MINE), ConnectorView(2, "Available")]
    mine = admit(online=True, connectors=views, wanted=None, payer_pubkey=PAYER)
    assert mine == Admission(1, reservation=MINE)
    # A wallet without nostr shows the reservation page's token instead.
    by_token = admit(
        online=True,
        connectors=views,
        wanted=None,
        payer_pubkey=None,
        reservation_token="page-token",
    )
    assert by_token == Admission(1, reservation=MINE)
    assert admit(online=True, connectors=views, wanted=None, payer_pubkey=OTHER) == Admission(2)
    with pytest.raises(LnurlError, match="connector 1 is reserved for another driver"):
        admit(online=True, connectors=views, wanted=1, payer_pubkey=OTHER)
    with pytest.raises(LnurlError, match="reserved for another driver"):
        admit(online=True, connectors=views, wanted=1, payer_pubkey=None, reservation_token="guess")
