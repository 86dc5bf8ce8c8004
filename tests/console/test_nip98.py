"""NIP-98 checks without I/O, and interop with events nostr-sdk signs."""

from __future__ import annotations

import base64
import hashlib
import json
import time

import pytest

from bot.config.keys import generate_keys
from bot.console.nip98 import parse_event, verify_event
from bot.errors import AuthRefused
from bot.nostr.events import sign_event
from tests.console.signer import Signer

URL = "https://charge.example.org/console/api/fleet?charger=cp-001"


def _check(header: str, *, method: str = "GET", url: str = URL, body: bytes = b"") -> str:
    return verify_event(
        parse_event(header), method=method, url=url, body=body, now=time.time()
    ).pubkey


def test_an_event_signed_by_nostr_sdk_is_accepted() -> None:
    keys = generate_keys()
    text = sign_event(keys, 27235, "", [["u", URL], ["method", "GET"]], int(time.time()))
    header = "Nostr " + base64.b64encode(text.encode()).decode()
    assert _check(header) == keys.public_key_hex
    assert _check(text) == keys.public_key_hex  # the JSON itself, as the log-in form takes it


def test_the_nip_example_event_is_refused_as_nostr_sdk_refuses_it() -> None:
    # The example printed in NIP-98: its id is not the hash of its fields (nostr-sdk's
    # verify() says False too), so it must not pass, whatever the time and URL.
    example = {
        "id": "fe964e758903360f28d8424d092da8494ed207cba823110be3a57dfe4b578734",
        "pubkey": "63fe6318dc58583cfe16810f86dd09e18bfd76aabc24a0081ce2856f330504ed",
        "content": "",
        "kind": 27235,
        "created_at": 1682327852,
        "tags": [["u", "https://api.snort.social/api/v1/n5sp/list"], ["method", "GET"]],
        "sig": "5ed9d8ec958bc854f997bdc24ac337d005af372324747efe4a00e24f4c30437ff4dd8308684bed"
        "467d9d6be3e5a517bb43b1732cc7d33949a3aaf86705c22184",
    }
    with pytest.raises(AuthRefused, match="event id does not match"):
        verify_event(
            example,
            method="GET",
            url="https://api.snort.social/api/v1/n5sp/list",
            body=b"",
            now=1682327852 + 30,
        )


def test_payload_tag_binds_the_body() -> None:
    signer = Signer()
    body = b'{"confirm": true}'
    header = signer.header(URL, "POST", body=body)
    assert _check(header, method="POST", body=body) == signer.pubkey
    with pytest.raises(AuthRefused, match="payload"):
        _check(header, method="POST", body=b'{"confirm": false}')


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("Nostr", "not a JSON nostr event"),
        ("Nostr %%%", "not base64"),
        ("Nostr " + base64.b64encode(b"[1, 2]").decode(), "not a JSON nostr event"),
        ("Nostr " + base64.b64encode(b'{"id": 1}').decode(), "'id'"),
        ("x" * 20000, "too long"),
    ],
)
def test_malformed_headers_are_refused(text: str, reason: str) -> None:
    with pytest.raises(AuthRefused, match=reason):
        parse_event(text)


def test_each_field_is_checked() -> None:
    event = Signer().auth_event(URL)
    for name, value in [
        ("kind", "27235"),
        ("created_at", True),
        ("tags", [["u", 1]]),
        ("pubkey", "AB" * 32),
        ("sig", "00"),
    ]:
        broken = {**event, name: value}
        with pytest.raises(AuthRefused):
            parse_event(json.dumps(broken))


def test_method_url_and_kind_must_match() -> None:
    signer = Signer()
    with pytest.raises(AuthRefused, match="u tag"):
        _check(signer.header(URL), url=URL + "&x=1")
    with pytest.raises(AuthRefused, match="method"):
        _check(signer.header(URL, "DELETE"))
    with pytest.raises(AuthRefused, match="kind"):
        _check(signer.header(URL, kind=27236))
    future = signer.header(URL, created_at=int(time.time()) + 300)
    with pytest.raises(AuthRefused, match="created_at"):
        _check(future)
    assert hashlib.sha256(b"").hexdigest()  # an empty body hashes like any other
