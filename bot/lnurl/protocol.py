"""LNURL-pay for chargers, without I/O: what the endpoints answer and what they accept.

- LUD-06/LUD-16 pay request (:class:`PayOffer`) with LUD-12 comments and NIP-57 zaps,
- the callback's query (:func:`parse_pay_callback`) and its answer (LUD-09 success action,
  LUD-21 ``verify``), LUD-21 verify answers, the status JSON of every LUD, NIP-05 documents,
- the URLs of all of it (:class:`Urls`), so the server routes what the answers advertise.

A refused request raises :class:`~bot.errors.LnurlError`; the server answers
:func:`error_response` with its reason.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from bot.config import ChargerConfig, Tariff
from bot.errors import LnurlError
from bot.nostr.zaps import ZapRequest, parse_zap_request

__all__ = [
    "DEFAULT_COMMENT_ALLOWED",
    "PayCallback",
    "PayOffer",
    "Urls",
    "charger_pay_offer",
    "error_response",
    "nip05_document",
    "ok_response",
    "parse_pay_callback",
    "parse_pay_name",
    "pay_invoice_response",
    "pay_metadata",
    "pay_name",
    "price_text",
    "query_values",
    "verify_response",
]

DEFAULT_COMMENT_ALLOWED = 140
ZAP_REQUEST_MAX_AGE_S = 600  # a client signs the zap request just before calling us
MAX_IMAGE_CHARS = 136_536  # LUD-06: 100 kB of image data in base64
MAX_SUCCESS_TEXT = 144  # LUD-09
_PAY_NAME = re.compile(r"^([a-z0-9][a-z0-9-]{0,31})(?:\.([1-9][0-9]{0,3}))?$")


@dataclass(frozen=True)
class Urls:
    """Every URL the HTTP side serves, built from ``service.public_url`` (no trailing /)."""

    public_url: str

    def lnurlp(self, name: str) -> str:
        return f"{self.public_url}/.well-known/lnurlp/{name}"

    def pay_callback(self, name: str) -> str:
        return f"{self.public_url}/lnurlp/{name}/callback"

    def verify(self, payment_hash: str) -> str:
        return f"{self.public_url}/lnurlp/verify/{payment_hash}"

    def session_page(self, token: str) -> str:
        """The session page (issue 7's): its unguessable token is the only secret in it."""
        return f"{self.public_url}/s/{token}"

    def reservation_page(self, token: str) -> str:
        """A reservation's page: its state, a cancel button, the charge link, the refund."""
        return f"{self.public_url}/r/{token}"

    def withdraw(self, k1: str) -> str:
        return f"{self.public_url}/lnurlw/{k1}"

    def withdraw_callback(self) -> str:
        return f"{self.public_url}/lnurlw/callback"

    def nip05(self, name: str) -> str:
        return f"{self.public_url}/.well-known/nostr.json?name={name}"


def pay_name(charger_id: str, connector_id: int | None = None) -> str:
    """The LUD-16 user part: ``cp-001`` (any free connector) or ``cp-001.2`` (connector 2).

    Charger ids never contain a dot and LUD-16 names may, so the two cannot be confused.
    """
    return charger_id if connector_id is None else f"{charger_id}.{connector_id}"


def parse_pay_name(name: str) -> tuple[str, int | None]:
    """Inverse of :func:`pay_name`; raise LnurlError for anything else."""
    match = _PAY_NAME.match(name)
    if match is None:
        raise LnurlError(f"unknown payment name {name[:40]!r}")
    connector = match.group(2)
    return match.group(1), None if connector is None else int(connector)


@dataclass(frozen=True)
class PayOffer:
    """A LUD-06 ``payRequest``: what one charger (or connector) accepts."""

    callback: str
    min_sendable_msat: int
    max_sendable_msat: int
    metadata: str  # exactly the string served: non-zap invoices commit to its sha256
    comment_allowed: int
    nostr_pubkey: str | None  # signs our zap receipts; None: no zaps here

    def as_json(self) -> dict[str, object]:
        answer: dict[str, object] = {
            "tag": "payRequest",
            "callback": self.callback,
            "minSendable": self.min_sendable_msat,
            "maxSendable": self.max_sendable_msat,
            "metadata": self.metadata,
            "commentAllowed": self.comment_allowed,
        }
        if self.nostr_pubkey is not None:
            answer["allowsNostr"] = True
            answer["nostrPubkey"] = self.nostr_pubkey
        return answer


def pay_metadata(
    description: str,
    *,
    identifier: str | None = None,
    long_description: str | None = None,
    image_png_base64: str | None = None,
) -> str:
    """The LUD-06 metadata string: text/plain, LUD-16 text/identifier, optional PNG."""
    entries: list[list[str]] = [["text/plain", description]]
    if long_description:
        entries.append(["text/long-desc", long_description])
    if identifier:
        entries.append(["text/identifier", identifier])
    if image_png_base64:
        if len(image_png_base64) > MAX_IMAGE_CHARS:
            raise ValueError(f"LUD-06 allows at most {MAX_IMAGE_CHARS} base64 characters")
        entries.append(["image/png;base64", image_png_base64])
    return json.dumps(entries, ensure_ascii=False, separators=(",", ":"))


def charger_pay_offer(
    charger: ChargerConfig,
    urls: Urls,
    domain: str,
    *,
    connector_id: int | None = None,
    comment_allowed: int = DEFAULT_COMMENT_ALLOWED,
    image_png_base64: str | None = None,
    price: str | None = None,
) -> PayOffer:
    """The pay offer of a charger from its config; the same inputs give the same metadata.

    ``price`` replaces the tariff's price text (a dynamic price is described, not quoted)."""
    name = pay_name(charger.id, connector_id)
    title = charger.name if connector_id is None else f"{charger.name}, connector {connector_id}"
    metadata = pay_metadata(
        f"{title} · {price or price_text(charger.tariff)}",
        identifier=f"{name}@{domain}",
        long_description=charger.about or None,
        image_png_base64=image_png_base64,
    )
    return PayOffer(
        callback=urls.pay_callback(name),
        min_sendable_msat=charger.tariff.min_sendable_msat,
        max_sendable_msat=charger.tariff.max_sendable_msat,
        metadata=metadata,
        comment_allowed=comment_allowed,
        nostr_pubkey=charger.keys.public_key_hex,
    )


def price_text(tariff: Tariff) -> str:
    text = f"{_sats(tariff.price_msat_per_kwh)} sat/kWh"
    if tariff.session_fee_msat:
        text += f" + {_sats(tariff.session_fee_msat)} sat per session"
    return text


def _sats(msat: int) -> str:
    whole, rest = divmod(msat, 1000)
    return f"{whole}" if not rest else f"{whole}.{rest:03d}".rstrip("0")


@dataclass(frozen=True)
class PayCallback:
    """A valid callback query: pay ``amount_msat``, as a zap when ``zap`` is set."""

    amount_msat: int
    comment: str
    zap: ZapRequest | None

    def invoice_description(self, offer: PayOffer) -> str:
        """What the invoice's description hash commits to: the exact zap request for a zap
        (NIP-57), else the metadata string (LUD-06)."""
        return self.zap.raw if self.zap is not None else offer.metadata


def query_values(params: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Query pairs as a dict; a parameter given twice is refused rather than guessed."""
    values: dict[str, str] = {}
    for key, value in params:
        if key in values:
            raise LnurlError(f"parameter {key!r} is given more than once")
        values[key] = value
    return values


def parse_pay_callback(
    params: Mapping[str, str],
    offer: PayOffer,
    *,
    now: int,
    zap_max_age_s: int = ZAP_REQUEST_MAX_AGE_S,
) -> PayCallback:
    """Check the callback query (``amount``, LUD-12 ``comment``, NIP-57 ``nostr``)."""
    text = params.get("amount")
    if text is None:
        raise LnurlError("amount is missing")
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        raise LnurlError("amount must be a whole number of millisatoshis")
    amount = int(text)
    if amount < offer.min_sendable_msat:
        raise LnurlError(f"amount is below the minimum of {offer.min_sendable_msat} msat")
    if amount > offer.max_sendable_msat:
        raise LnurlError(f"amount is above the maximum of {offer.max_sendable_msat} msat")
    comment = params.get("comment", "")
    if len(comment) > offer.comment_allowed:
        raise LnurlError(f"comment is longer than {offer.comment_allowed} characters")
    zap = None
    if "nostr" in params:
        if offer.nostr_pubkey is None:
            raise LnurlError("this endpoint does not accept zaps")
        zap = parse_zap_request(
            params["nostr"],
            amount_msat=amount,
            charger_pubkey=offer.nostr_pubkey,
            now=now,
            max_age_s=zap_max_age_s,
        )
    return PayCallback(amount_msat=amount, comment=comment, zap=zap)


def pay_invoice_response(
    pr: str,
    *,
    success_url: str | None = None,
    success_text: str = "Your charging session",
    verify_url: str | None = None,
) -> dict[str, object]:
    """The LUD-06 callback answer, with a LUD-09 ``url`` success action and LUD-21 ``verify``.

    LUD-09 wants the success URL on the callback's domain: build both from :class:`Urls`.
    """
    answer: dict[str, object] = {"pr": pr, "routes": []}
    if success_url is not None:
        if len(success_text) > MAX_SUCCESS_TEXT:
            raise ValueError(f"LUD-09 success text is at most {MAX_SUCCESS_TEXT} characters")
        answer["successAction"] = {"tag": "url", "description": success_text, "url": success_url}
    if verify_url is not None:
        answer["verify"] = verify_url
    return answer


def verify_response(*, settled: bool, preimage: str | None, pr: str) -> dict[str, object]:
    """LUD-21: whether the invoice ``pr`` is settled; the preimage only once it is."""
    return {"status": "OK", "settled": settled, "preimage": preimage if settled else None, "pr": pr}


def error_response(reason: str) -> dict[str, str]:
    return {"status": "ERROR", "reason": reason}


def ok_response() -> dict[str, str]:
    return {"status": "OK"}


def nip05_document(names: Mapping[str, str], relays: Sequence[str]) -> dict[str, object]:
    """NIP-05 ``nostr.json`` for ``names`` (name -> hex pubkey), with our relays for each."""
    return {
        "names": dict(names),
        "relays": {pubkey: list(relays) for pubkey in names.values()} if relays else {},
    }
