"""Everything nostr: the only package that imports ``nostr_sdk``.

- ``keys``: charger keypairs (``ChargerKeys``) and key files.
- ``events``: pure builders of the events a charger publishes (signed JSON strings).
- ``pool``: ``RelayPool``, the one nostr-sdk Client of the bot (a Service).
- ``outbox``: ``Outbox.enqueue(event_json, relays)``: stored first, sent until a relay
  says OK (a Service). Zap receipts, DMs and statuses all go through it.
- ``addresses``: strictly increasing ``created_at`` per replaceable address.
- ``presence``: kind 0, 10002, 10050 and 33000 per charger (a Service).
- ``status``: kind 33600 and 30315, ``StatusSink`` (a Service).
- ``dm_codec``, ``dms``, ``inbox``: NIP-17/NIP-04 DMs out (``Messenger``) and in (a Service).
- ``watch``: ``zapcharge watch``.
- ``relay``: nostr-sdk's LocalRelay for tests and the demo (``async with local_relay()``).
- ``stack``: ``NostrStack.build(config, db)`` puts it all together for ``app.py``.
"""
