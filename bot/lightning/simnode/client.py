"""A small async JSON-RPC client for the simulated node's own side: the payer's wallet and
the ``dev-simnode-*`` controls that tests and the demo use.

The bot itself never uses this: it talks to any node through ``bot.lightning.cln``
(pyln-client). This client exists so tests and the demo can act as the *other* party
without a second pyln import and without blocking the event loop the node may run on.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from pathlib import Path
from typing import Any

from bot.errors import LightningError, LightningUnavailable
from bot.lightning.simnode.server import RPC_FILE, short_socket_path

__all__ = ["SimnodeClient"]


class SimnodeClient:
    def __init__(self, lightning_dir: Path, network: str = "regtest") -> None:
        self.rpc_path = lightning_dir / network / RPC_FILE
        self._ids = itertools.count(1)

    async def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        request: dict[str, Any] = {
            "jsonrpc": "2.0",
            "id": f"simnode-client:{next(self._ids)}",
            "method": method,
            "params": params or {},
        }
        try:
            with short_socket_path(self.rpc_path) as path:
                reader, writer = await asyncio.open_unix_connection(path)
        except OSError as exc:
            raise LightningUnavailable(f"simnode at {self.rpc_path}: {exc}") from exc
        try:
            writer.write(json.dumps(request).encode("utf-8"))
            await writer.drain()
            raw = await reader.readuntil(b"\n\n")
        except (OSError, asyncio.IncompleteReadError) as exc:
            raise LightningUnavailable(f"simnode at {self.rpc_path}: connection lost") from exc
        finally:
            writer.close()
        reply = json.loads(raw)
        if "error" in reply:
            error = reply["error"]
            raise LightningError(str(error.get("message")), code=error.get("code"))
        return reply["result"]

    async def pay_invoice(self, bolt11: str, amount_msat: int | None = None) -> dict[str, Any]:
        """As a payer's wallet would: pay one of this node's invoices."""
        params: dict[str, Any] = {"invstring": bolt11}
        if amount_msat is not None:
            params["amount_msat"] = amount_msat
        result: dict[str, Any] = await self.call("dev-simnode-receive", params)
        return result

    async def hangup_after(self, method: str) -> None:
        """The node will carry out the next ``method`` call but hang up instead of answering."""
        await self.call("dev-simnode-hangup-after", {"method": method})

    async def next_pay(self, outcome: str, *, code: int = 205, count: int = 1) -> None:
        """Make the node's next ``count`` outgoing payments ``fail`` or stay ``pending``."""
        await self.call("dev-simnode-next-pay", {"outcome": outcome, "code": code, "count": count})

    async def resolve_pay(self, payment_hash: str, outcome: str) -> dict[str, Any]:
        """Settle a pending payment: ``complete`` or ``failed``."""
        result: dict[str, Any] = await self.call(
            "dev-simnode-resolve-pay", {"payment_hash": payment_hash, "outcome": outcome}
        )
        return result
