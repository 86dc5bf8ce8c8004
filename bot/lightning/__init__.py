"""Lightning backends: Core Lightning, a simulated node, and Nostr Wallet Connect
(interface: ``bot.ports.lightning``).

:func:`build_backend` picks the backend from ``[lightning]`` in ``relays.toml``. Both
``cln`` and ``simnode`` are Core Lightning's JSON-RPC on ``<lightning_dir>/<network>/
lightning-rpc`` through pyln-client; with ``simnode`` the process behind the socket is
``zapcharge simnode``, which the operator (or ``zapcharge demo``) starts. ``nwc`` speaks
NIP-47 to a wallet service on its own relays (``bot.lightning.nwc``) and keeps its
bookkeeping in the bot's database.
"""

from __future__ import annotations

import logging

from bot.config import LightningConfig
from bot.ports.lightning import LightningBackend
from bot.store.db import Database

__all__ = ["build_backend"]

log = logging.getLogger(__name__)


def build_backend(config: LightningConfig, db: Database | None = None) -> LightningBackend:
    if config.backend == "nwc":
        from bot.lightning.nwc.backend import NwcBackend
        from bot.lightning.nwc.client import NwcClient

        if config.nwc is None or db is None:
            raise ValueError("the nwc backend needs its URI and the database")
        return NwcBackend(NwcClient(config.nwc), db, network=config.network)
    from bot.lightning.cln import ClnBackend

    if config.backend == "simnode":
        log.warning(
            "lightning backend 'simnode': payments are SIMULATED by zapcharge simnode at %s",
            config.rpc_path,
        )
    return ClnBackend(config.rpc_path)
