"""Lightning backends: Core Lightning and a simulated node (interface: ``bot.ports.lightning``).

:func:`build_backend` picks the backend from ``[lightning]`` in ``relays.toml``. Both
``cln`` and ``simnode`` are Core Lightning's JSON-RPC on ``<lightning_dir>/<network>/
lightning-rpc`` through pyln-client; with ``simnode`` the process behind the socket is
``zapcharge simnode``, which the operator (or ``zapcharge demo``) starts.
"""

from __future__ import annotations

import logging

from bot.config import LightningConfig
from bot.ports.lightning import LightningBackend

__all__ = ["build_backend"]

log = logging.getLogger(__name__)


def build_backend(config: LightningConfig) -> LightningBackend:
    from bot.lightning.cln import ClnBackend

    if config.backend == "simnode":
        log.warning(
            "lightning backend 'simnode': payments are SIMULATED by zapcharge simnode at %s",
            config.rpc_path,
        )
    return ClnBackend(config.rpc_path)
