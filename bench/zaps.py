"""NIP-57 codec and BOLT11 throughput, one thread: what one LNURL callback or receipt costs."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable

from bolt11 import Bolt11, MilliSatoshi, TagChar, Tags, encode

from bot.config.keys import generate_keys
from bot.nostr.zaps import (
    build_zap_receipt,
    build_zap_request,
    parse_zap_request,
    validate_zap_receipt,
)
from bot.ports.bolt11 import decode_invoice

ROUNDS = 500
NOW = 1_700_000_000
RELAYS = [f"wss://relay{i}.example.org" for i in range(8)]


def _rate(what: str, action: Callable[[], object]) -> None:
    started = time.perf_counter()
    for _ in range(ROUNDS):
        action()
    elapsed = time.perf_counter() - started
    print(f"{what:32} {ROUNDS / elapsed:8,.0f}/s  ({elapsed / ROUNDS * 1e3:.2f} ms each)")


def _invoice(description_hash: str, preimage: bytes) -> str:
    tags = Tags()
    tags.add(TagChar.payment_hash, hashlib.sha256(preimage).hexdigest())
    tags.add(TagChar.payment_secret, os.urandom(32).hex())
    tags.add(TagChar.description_hash, description_hash)
    tags.add(TagChar.expire_time, 600)
    invoice = Bolt11(currency="bcrt", date=NOW, amount_msat=MilliSatoshi(21_000), tags=tags)
    return encode(invoice, private_key="11" * 32)


async def run() -> None:
    charger, driver = generate_keys(), generate_keys()
    pubkey = charger.public_key_hex

    def request() -> str:
        return build_zap_request(
            driver,
            recipient_pubkey=pubkey,
            amount_msat=21_000,
            relays=RELAYS,
            comment="Zap!",
            lnurl="LNURL1DP68GURN8GHJ7",
            now=NOW,
        )

    raw = request()

    def parse() -> object:
        return parse_zap_request(
            raw, amount_msat=21_000, charger_pubkey=pubkey, now=NOW, max_age_s=600
        )

    zap = parse_zap_request(raw, amount_msat=21_000, charger_pubkey=pubkey, now=NOW, max_age_s=600)
    preimage = os.urandom(32)
    bolt11 = _invoice(zap.description_hash, preimage)
    receipt = build_zap_receipt(charger, zap, bolt11, preimage.hex(), NOW)
    print(f"zap request {len(raw)} chars, receipt {len(receipt)} chars, invoice {len(bolt11)}")
    _rate("build_zap_request (sign)", request)
    _rate("parse_zap_request (appendix D)", parse)
    _rate("decode_invoice (bolt11)", lambda: decode_invoice(bolt11))
    _rate("build_zap_receipt (sign)", lambda: build_zap_receipt(charger, zap, bolt11, None, NOW))
    _rate(
        "validate_zap_receipt (appendix F)",
        lambda: validate_zap_receipt(
            receipt, trusted_zapper_pubkeys={pubkey}, expected_recipient=pubkey
        ),
    )
