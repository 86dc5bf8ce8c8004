"""Which keys may sign a charger's zap receipts: configured, or pinned from its address.

With ``pin_from_address = true`` the bot asks the lightning address's LNURL endpoint
(LUD-16) for its ``nostrPubkey`` at start:

- keys are configured: the answer must be one of them, or the bot refuses to start
  (the address now points at a zapper nobody vouched for);
- none are configured: the first answer is stored and pinned; a later start that gets
  another key refuses to start until the operator lists the new key;
- the endpoint cannot be reached: the configured or stored keys are used, with a warning;
  with neither, the bot refuses to start.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from urllib.parse import quote

import aiohttp

from bot.config import ChargerConfig
from bot.errors import ConfigError, LnurlError
from bot.log import charger_log
from bot.store.receipts import ReceiptStore

__all__ = ["PubkeyLookup", "address_url", "fetch_nostr_pubkey", "trusted_zappers"]

log = logging.getLogger(__name__)

PubkeyLookup = Callable[[str], Awaitable[str]]  # lightning address -> nostrPubkey (hex)
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_LOOPBACK = ("127.0.0.1", "localhost", "[::1]")
_MAX_BODY = 65_536


def address_url(address: str) -> str:
    """LUD-16's URL of ``name@domain``; plain http only for a loopback host (tests, demo)."""
    user, domain = address.split("@", 1)
    host = domain.rsplit(":", 1)[0] if not domain.startswith("[") else domain
    scheme = "http" if host in _LOOPBACK or host.endswith(".onion") else "https"
    return f"{scheme}://{domain}/.well-known/lnurlp/{quote(user)}"


async def fetch_nostr_pubkey(address: str, timeout_s: float = 10.0) -> str:
    """The ``nostrPubkey`` the address's pay endpoint announces; LnurlError otherwise."""
    url = address_url(address)
    try:
        timeout = aiohttp.ClientTimeout(total=timeout_s)
        async with aiohttp.ClientSession(timeout=timeout) as http, http.get(url) as response:
            if response.status != 200:
                raise LnurlError(f"{url} answered HTTP {response.status}")
            body = await response.content.read(_MAX_BODY)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise LnurlError(f"cannot reach {url}: {exc or type(exc).__name__}") from None
    return nostr_pubkey_of(body, url)


def nostr_pubkey_of(body: bytes, url: str) -> str:
    """NIP-57: a pay request with ``allowsNostr`` and a hex ``nostrPubkey``."""
    try:
        data = json.loads(body)
    except ValueError:
        raise LnurlError(f"{url} did not answer JSON") from None
    if not isinstance(data, dict) or data.get("tag") != "payRequest":
        raise LnurlError(f"{url} is not an LNURL pay request")
    key = data.get("nostrPubkey")
    if data.get("allowsNostr") is not True or not isinstance(key, str):
        raise LnurlError(f"{url} does not support zaps (no allowsNostr/nostrPubkey)")
    if not _HEX64.match(key.lower()):
        raise LnurlError(f"{url} announces a nostrPubkey that is not 64 hex characters")
    return key.lower()


async def trusted_zappers(
    chargers: Sequence[ChargerConfig],
    store: ReceiptStore,
    lookup: PubkeyLookup,
    *,
    now: float,
) -> dict[str, frozenset[str]]:
    """Charger id -> the zapper keys whose receipts count. Raises ConfigError to refuse."""
    trusted: dict[str, frozenset[str]] = {}
    for charger in chargers:
        zapper = charger.zapper
        if zapper is None:
            continue
        keys = set(zapper.trusted_pubkeys)
        if zapper.pin_from_address:
            keys = await _pinned(charger, store, lookup, now)
        trusted[charger.id] = frozenset(keys)
    return trusted


async def _pinned(
    charger: ChargerConfig, store: ReceiptStore, lookup: PubkeyLookup, now: float
) -> set[str]:
    assert charger.zapper is not None
    zapper, clog = charger.zapper, charger_log(log, charger.id)
    configured = set(zapper.trusted_pubkeys)
    stored = await store.pin(charger.id)
    pinned = stored[1] if stored and stored[0] == zapper.lightning_address else None
    file = zapper.file
    try:
        announced = await lookup(zapper.lightning_address)
    except LnurlError as exc:
        known = configured or ({pinned} if pinned else set())
        if not known:
            raise ConfigError(
                file, "zapper.pin_from_address", f"cannot look up the zapper key: {exc}"
            ) from None
        clog.warning("zapper key lookup failed (%s); using the known key(s)", exc)
        return known
    if configured:
        if announced not in configured:
            raise ConfigError(
                file,
                "zapper.trusted_pubkeys",
                f"{zapper.lightning_address} announces nostrPubkey {announced},"
                " which is not listed; refusing to start",
            )
        clog.info(
            "zapper key %s of %s matches the configured one",
            announced[:12],
            zapper.lightning_address,
        )
        return configured
    if pinned is not None and pinned != announced:
        raise ConfigError(
            file,
            "zapper.trusted_pubkeys",
            f"{zapper.lightning_address} now announces nostrPubkey {announced}, but {pinned}"
            " was pinned; list the key you trust in trusted_pubkeys",
        )
    if pinned is None:
        await store.set_pin(charger.id, zapper.lightning_address, announced, now)
        clog.warning(
            "pinned zapper key %s from %s (no trusted_pubkeys configured)",
            announced,
            zapper.lightning_address,
        )
    return {announced}
