from __future__ import annotations

import time

import nostr_sdk

from bot.config import RelayConfig
from bot.config.keys import generate_keys
from bot.nostr.dm_codec import gift_wrap, nip04_message
from bot.nostr.mailbox import Mailbox
from bot.nostr.pool import RelayPool
from bot.nostr.relay import LocalRelay


async def test_a_driver_reads_back_the_dms_sent_to_them_once_each(relay: LocalRelay) -> None:
    charger, driver, stranger = generate_keys(), generate_keys(), generate_keys()
    since = int(time.time()) - 5
    pool = RelayPool([RelayConfig(relay.url)])
    try:
        events = [
            gift_wrap(charger, driver.public_key_hex, "Charging started"),
            nip04_message(charger, driver.public_key_hex, "legacy hello", int(time.time())),
            gift_wrap(charger, stranger.public_key_hex, "not for the driver"),
        ]
        for raw in events:
            answers = await pool.send(nostr_sdk.Event.from_json(raw), [relay.url])
            assert all(a.ok for a in answers.values())
        messages = await Mailbox(pool, driver).messages(since)
        assert sorted(m.text for m in messages) == ["Charging started", "legacy hello"]
        assert {m.sender for m in messages} == {charger.public_key_hex}
        assert {m.protocol for m in messages} == {"nip17", "nip04"}
        assert await Mailbox(pool, driver).messages(int(time.time()) + 3600) == []
    finally:
        await pool.close()
