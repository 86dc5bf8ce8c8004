from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import LightningConfig, NwcUri
from bot.lightning import build_backend
from bot.lightning.cln import ClnBackend
from bot.lightning.nwc.backend import NwcBackend
from bot.store import Database


def test_both_backends_speak_cln_json_rpc_on_the_configured_socket(tmp_path: Path) -> None:
    for kind, network in (("cln", "bitcoin"), ("simnode", "regtest")):
        backend = build_backend(LightningConfig(kind, tmp_path, network))  # type: ignore[arg-type]
        assert isinstance(backend, ClnBackend)
        assert backend.rpc_path == tmp_path / network / "lightning-rpc"


async def test_nwc_builds_the_wallet_connect_backend_on_the_database(
    tmp_path: Path, db: Database
) -> None:
    uri = NwcUri("aa" * 32, ("ws://127.0.0.1:9",), "11" * 32)
    config = LightningConfig("nwc", tmp_path, "regtest", tmp_path / "wallet.nwc", uri)
    backend = build_backend(config, db)
    assert isinstance(backend, NwcBackend)
    assert backend.client.uri == uri and backend.network == "regtest"
    await backend.close()
    with pytest.raises(ValueError, match="database"):
        build_backend(config)
