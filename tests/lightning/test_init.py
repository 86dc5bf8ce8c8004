from __future__ import annotations

from pathlib import Path

from bot.config import LightningConfig
from bot.lightning import build_backend
from bot.lightning.cln import ClnBackend


def test_both_backends_speak_cln_json_rpc_on_the_configured_socket(tmp_path: Path) -> None:
    for kind, network in (("cln", "bitcoin"), ("simnode", "regtest")):
        backend = build_backend(LightningConfig(kind, tmp_path, network))  # type: ignore[arg-type]
        assert isinstance(backend, ClnBackend)
        assert backend.rpc_path == tmp_path / network / "lightning-rpc"
