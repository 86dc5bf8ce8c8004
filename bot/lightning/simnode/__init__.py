"""A simulated Lightning node that speaks Core Lightning's JSON-RPC on a unix socket.

For tests and ``zapcharge demo`` only: lightningd cannot be installed on these machines,
and this node says so whenever it starts. The bot talks to it exactly as to lightningd,
through ``bot.lightning.cln`` and the real pyln-client. It issues real signed BOLT11
invoices, keeps its state in ``<lightning-dir>/<network>/simnode.sqlite3``, expires
invoices, records the payments it makes, and can be told to fail or stall them.

Starting it:

- ``zapcharge simnode --lightning-dir DIR`` (its own process, until SIGTERM);
- :func:`start_subprocess` / :func:`running_subprocess` (a child process, from tests or the demo);
- :func:`serve_in_process` (on the caller's event loop, for fast tests).

The other party: :class:`SimnodeClient` pays the node's invoices as a wallet would and
steers its outgoing payments; :func:`read_payments` lists what it paid to whom.
"""

from bot.lightning.simnode.client import SimnodeClient
from bot.lightning.simnode.process import (
    SimnodeProcess,
    running_subprocess,
    start_subprocess,
)
from bot.lightning.simnode.server import SimnodeServer, serve_in_process
from bot.lightning.simnode.state import SimPayment, read_payments

__all__ = [
    "SimPayment",
    "SimnodeClient",
    "SimnodeProcess",
    "SimnodeServer",
    "read_payments",
    "running_subprocess",
    "serve_in_process",
    "start_subprocess",
]
