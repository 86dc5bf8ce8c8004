"""Which strangers' hosts the bot contacts: relays from zap requests, lightning addresses."""

from __future__ import annotations

import pytest

from bot.lnurl.hosts import (
    MAX_RECEIPT_RELAYS,
    is_loopback_host,
    is_public_host,
    loopback_deployment,
    usable_relays,
)


@pytest.mark.parametrize(
    "host", ["relay.example.org", "8.8.8.8", "[2606:4700::1111]", "abc.onion", "Relay.Example."]
)
def test_public_hosts(host: str) -> None:
    assert is_public_host(host)


@pytest.mark.parametrize(
    "host",
    ["", "localhost", "127.0.0.1", "10.1.2.3", "192.168.0.10", "172.16.0.1", "169.254.1.1",
     "[::1]", "[fe80::1]", "[fc00::1]", "0.0.0.0",  # noqa: S104 -- a host to refuse, not to bind
     "224.0.0.1", "nas", "router.local",
     "db.internal", "x.localhost", "100.64.0.1"],
)  # fmt: skip
def test_private_loopback_and_local_names_are_not_public(host: str) -> None:
    assert not is_public_host(host)


def test_loopback_hosts() -> None:
    assert all(is_loopback_host(h) for h in ("localhost", "127.0.0.1", "127.8.9.1", "[::1]"))
    assert not any(is_loopback_host(h) for h in ("10.0.0.1", "relay.example.org", ""))


def test_a_deployment_on_loopback_is_recognised() -> None:
    assert loopback_deployment(["ws://127.0.0.1:7777", "wss://relay.example.org"])
    assert not loopback_deployment(["wss://relay.example.org", "wss://10.0.0.2"])


def test_only_public_ws_relays_are_kept_in_order_without_repeats() -> None:
    relays = [
        "wss://relay.example.org",
        " wss://relay.example.org ",
        "https://relay.example.org",
        "wss://10.0.0.1",
        "ws://127.0.0.1:7777",
        "wss://user@relay.example.com",
        "wss://relay.example.com:0",
        "wss://[::1",
        "ws://nos.example.net:4848",
    ]
    assert usable_relays(relays, allow_loopback=False) == (
        "wss://relay.example.org",
        "ws://nos.example.net:4848",
    )
    assert usable_relays(relays, allow_loopback=True) == (
        "wss://relay.example.org",
        "ws://127.0.0.1:7777",
        "ws://nos.example.net:4848",
    )


def test_the_number_of_relays_is_capped() -> None:
    relays = [f"wss://relay{i}.example.org" for i in range(50)]
    assert usable_relays(relays, allow_loopback=False) == tuple(relays[:MAX_RECEIPT_RELAYS])
