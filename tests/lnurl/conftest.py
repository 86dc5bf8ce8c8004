"""The payment watcher's tests run on the simulated node of tests/lightning, schemas and all."""

from tests.lightning.conftest import backend, ln_dir, node, wallet, wire_log

__all__ = ["backend", "ln_dir", "node", "wallet", "wire_log"]
