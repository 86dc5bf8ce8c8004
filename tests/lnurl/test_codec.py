"""LNURL bech32 (LUD-01), lightning: URIs and lightning addresses (LUD-16)."""

from __future__ import annotations

import lnurl
import pytest

from bot.errors import LnurlError
from bot.lnurl.codec import (
    decode_lnurl,
    encode_lnurl,
    lightning_address_url,
    lightning_uri,
    parse_lightning_address,
)

# LUD-01's own example.
LUD01_URL = (
    "https://service.com/api?q=3fc3645b439ce8e7f2553a69e5267081d96dcd340693afabe04be7b0ccd178df"
)
LUD01_LNURL = (
    "LNURL1DP68GURN8GHJ7UM9WFMXJCM99E3K7MF0V9CXJ0M385EKVCENXC6R2C35XVUKXEFCV5MKVV34X5EKZD3EV56NYD3HX"
    "QURZEPEXEJXXEPNXSCRVWFNV9NXZCN9XQ6XYEFHVGCXXCMYXYMNSERXFQ5FNS"
)
OUR_URL = "https://charge.example.org/.well-known/lnurlp/cp-001"


def test_the_lud01_example_round_trips() -> None:
    assert encode_lnurl(LUD01_URL) == LUD01_LNURL
    assert decode_lnurl(LUD01_LNURL) == LUD01_URL
    assert decode_lnurl(LUD01_LNURL.lower()) == LUD01_URL


@pytest.mark.parametrize("url", [OUR_URL, "http://127.0.0.1:8080/.well-known/lnurlp/cp-001.2"])
def test_the_lnurl_package_agrees(url: str) -> None:
    ours = encode_lnurl(url)
    assert ours == lnurl.encode(url).bech32
    assert lnurl.url_decode(ours) == url
    assert decode_lnurl(lnurl.url_encode(url)) == url


def test_a_lightning_uri_is_accepted_back() -> None:
    uri = lightning_uri(encode_lnurl(OUR_URL))
    assert uri.startswith("lightning:LNURL1")
    assert decode_lnurl(uri) == OUR_URL
    assert decode_lnurl(uri.upper()) == OUR_URL


@pytest.mark.parametrize(
    "text",
    [
        "",
        LUD01_LNURL[:-1] + ("Q" if LUD01_LNURL[-1] != "Q" else "P"),  # checksum
        LUD01_LNURL[:20] + LUD01_LNURL[20:].lower(),  # mixed case
        "npub1sn0wdenkukak0d9dfczzeacvhkrgz92ak56egt7vdgzn8pv2wfqqhrjdv9",
        encode_lnurl("https://x.example/").replace("LNURL", "LNURX"),
    ],
)
def test_what_is_not_an_lnurl_is_refused(text: str) -> None:
    with pytest.raises(LnurlError):
        decode_lnurl(text)


def test_only_http_urls_are_encoded_or_decoded() -> None:
    with pytest.raises(ValueError, match="http"):
        encode_lnurl("ftp://example.org/")
    with pytest.raises(LnurlError, match="http"):
        decode_lnurl(lnurl.url_encode("javascript:alert(1)"))


def test_lightning_addresses() -> None:
    assert parse_lightning_address("cp-001@charge.example.org") == ("cp-001", "charge.example.org")
    assert lightning_address_url("cp-001.2@charge.example.org") == (
        "https://charge.example.org/.well-known/lnurlp/cp-001.2"
    )
    assert lightning_address_url("cp-001@127.0.0.1:8080") == (
        "http://127.0.0.1:8080/.well-known/lnurlp/cp-001"
    )
    assert lightning_address_url("me@abcdef.onion").startswith("http://abcdef.onion/")


@pytest.mark.parametrize(
    "address", ["cp-001", "CP@charge.example.org", "a b@example.org", "@example.org", "a@"]
)
def test_what_is_not_a_lightning_address_is_refused(address: str) -> None:
    with pytest.raises(LnurlError, match="not a lightning address"):
        parse_lightning_address(address)
