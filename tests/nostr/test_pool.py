from __future__ import annotations

import asyncio
import logging

import nostr_sdk
import pytest

from bot.backoff import Backoff
from bot.config import RelayConfig
from bot.config.keys import generate_keys
from bot.errors import NostrError
from bot.nostr.pool import RelayPool, normalize_relay_url
from bot.nostr.relay import LocalRelay, free_port, local_relay
from tests.helpers import scaled
from tests.nostr.support import running, wait_until


def note(keys: nostr_sdk.Keys, text: str) -> nostr_sdk.Event:
    return nostr_sdk.EventBuilder(nostr_sdk.Kind(1), text).finalize(keys)


def test_relay_urls_are_normalised_or_refused() -> None:
    assert normalize_relay_url(" ws://127.0.0.1:7777 ") == "ws://127.0.0.1:7777"
    with pytest.raises(NostrError):
        normalize_relay_url("https://example.org")


async def test_send_reports_each_relay_and_adds_a_drivers_relay(
    relay: LocalRelay, relay2: LocalRelay
) -> None:
    dead = f"ws://127.0.0.1:{free_port()}"
    pool = RelayPool([RelayConfig(relay.url)], connect_wait_s=scaled(1))
    try:
        keys = nostr_sdk.Keys.generate()
        answers = await pool.send(note(keys, "hi"), [relay.url, relay2.url, dead])
        assert answers[relay.url].ok and answers[relay2.url].ok
        assert not answers[dead].ok
        # The extra relay is write-only: reads still go to the configured relay only.
        assert pool.read_relays == (relay.url,) and pool.write_relays == (relay.url,)
        fetched = await pool.fetch([nostr_sdk.Filter().kind(nostr_sdk.Kind(1))])
        assert [e.content() for e in fetched] == ["hi"]
    finally:
        await pool.close()


async def test_an_unconnected_relay_answers_at_once_instead_of_timing_out() -> None:
    pool = RelayPool(
        [RelayConfig(f"ws://127.0.0.1:{free_port()}")], ok_timeout_s=30, connect_wait_s=0.2
    )
    try:
        await pool.start()
        loop = asyncio.get_running_loop()
        started = loop.time()
        answers = await pool.send(note(nostr_sdk.Keys.generate(), "x"), pool.write_relays)
        assert next(iter(answers.values())).message == "relay not connected"
        assert loop.time() - started < scaled(2)
    finally:
        await pool.close()


async def test_subscription_delivers_live_events_and_survives_a_relay_restart(
    relay: LocalRelay,
) -> None:
    pool = RelayPool([RelayConfig(relay.url)])
    reconnects: list[str] = []
    pool.add_reconnect_listener(reconnects.append)
    other = RelayPool([RelayConfig(relay.url)])
    keys = nostr_sdk.Keys.generate()
    try:
        async with running(pool, other):
            query = nostr_sdk.Filter().kind(nostr_sdk.Kind(1)).author(keys.public_key())
            sub = await pool.subscribe([query], eose_timeout_s=scaled(3))
            assert sub.eose.is_set()
            await other.send(note(keys, "first"), [relay.url])
            first = await asyncio.wait_for(sub.next(), scaled(3))
            assert first.content() == "first"
            relay.stop()
            await asyncio.sleep(0.3)
            await relay.start()
            await wait_until(lambda: _true(len(reconnects) >= 2), what="reconnect")
            # The SDK sends the REQ again after reconnecting; the new relay is empty.
            await wait_until(
                lambda: _sent(other, note(keys, "second"), relay.url), what="send after restart"
            )
            second = await asyncio.wait_for(sub.next(), scaled(3))
            assert second.content() == "second"
            await pool.unsubscribe(sub)
    finally:
        await pool.close()
        await other.close()


async def _true(value: bool) -> bool:
    return value


async def _sent(pool: RelayPool, event: nostr_sdk.Event, url: str) -> bool:
    return (await pool.send(event, [url]))[url].ok


async def test_nip42_auth_is_answered_for_the_pool() -> None:
    async with local_relay(auth=True) as url:
        pool = RelayPool([RelayConfig(url)], auth_keys=generate_keys())
        plain = RelayPool([RelayConfig(url)])
        try:
            keys = nostr_sdk.Keys.generate()
            refused = await plain.send(note(keys, "anon"), [url])
            assert refused[url].message.startswith("auth-required")
            answers = await pool.send(note(keys, "authed"), [url])
            assert answers[url].ok, answers
            fetched = await pool.fetch([nostr_sdk.Filter().kind(nostr_sdk.Kind(1))])
            assert [e.content() for e in fetched] == ["authed"]
        finally:
            await plain.close()
            await pool.close()


async def test_a_pool_without_read_relays_fetches_and_subscribes_to_nothing() -> None:
    pool = RelayPool([RelayConfig(f"ws://127.0.0.1:{free_port()}", read=False)], connect_wait_s=0.2)
    try:
        assert await pool.fetch([nostr_sdk.Filter()]) == []
        sub = await pool.subscribe([nostr_sdk.Filter()])
        assert sub.events.empty()
    finally:
        await pool.close()


async def test_a_drop_is_logged_with_what_is_known_and_reconnects_with_growing_delays(
    relay: LocalRelay, caplog: pytest.LogCaptureFixture
) -> None:
    # rng 1.0: no jitter, so the delays are the backoff's own: 0.1, 0.2, 0.4, 0.4 ...
    backoff = Backoff(first_s=0.05, cap_s=0.4)
    pool = RelayPool(
        [RelayConfig(relay.url)], backoff=backoff, rng=lambda: 1.0, poll_interval_s=0.02
    )
    caplog.set_level(logging.DEBUG, logger="bot.nostr.pool")

    def messages(text: str) -> list[logging.LogRecord]:
        return [r for r in caplog.records if text in r.getMessage()]

    async def seen(text: str, count: int = 1) -> bool:
        return len(messages(text)) >= count

    keys = nostr_sdk.Keys.generate()
    try:
        async with running(pool):
            await wait_until(lambda: seen("connected"), what="first connect")
            for n in range(3):
                assert (await pool.send(note(keys, f"before {n}"), [relay.url]))[relay.url].ok
            relay.stop()
            await wait_until(lambda: seen("reconnect attempt", 4), what="four failed attempts")
            await relay.start()
            await wait_until(lambda: seen("connected again after"), what="the return logged")
            # Nothing of the old connection is held against the new one: sends go through.
            assert (await pool.send(note(keys, "after"), [relay.url]))[relay.url].ok
    finally:
        await pool.close()
    (drop,) = messages("dropped")  # once, however many polls saw it down
    assert drop.levelno == logging.WARNING
    assert "status TERMINATED" in drop.getMessage()
    assert "3 event(s) sent over the connection, 3 in the last 10 s" in drop.getMessage()
    attempts = messages("reconnect attempt")
    assert "Connection refused" in attempts[0].getMessage()
    assert attempts[0].levelno == logging.WARNING
    assert all(r.levelno == logging.DEBUG for r in attempts[1:])  # the same error again
    delays = [float(r.args[-1]) for r in attempts[:4]]  # type: ignore[index]
    assert delays == pytest.approx([0.1, 0.2, 0.4, 0.4])
