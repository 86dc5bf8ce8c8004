from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _no_leftover_callback_loop() -> Iterator[None]:
    """nostr-sdk keeps the callback loop process-wide; a test must not leave one set."""
    yield
    from nostr_sdk import nostr_sdk as ffi

    assert ffi._UNIFFI_GLOBAL_EVENT_LOOP is None, "a RelayPool with NIP-42 auth was not closed"
