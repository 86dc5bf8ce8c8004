from __future__ import annotations

from pathlib import Path

from bot.config import load_config
from bot.lightning.cln import ClnBackend
from bot.lnurl.stack import LnurlStack
from bot.store.db import Database
from tests.helpers import write_config
from tests.lnurl.support import RecordingOutbox, RecordingSessions


async def test_the_stack_is_built_from_the_config(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path), env={})
    async with await Database.open(tmp_path / "z.sqlite3") as db:
        stack = LnurlStack.build(
            config,
            db,
            ClnBackend(config.lightning.rpc_path),
            outbox=RecordingOutbox(),
            sessions=RecordingSessions(),
        )
        paths = {route.path for p in stack.providers for route in p.routes()}
        assert "/.well-known/lnurlp/{name}" in paths and "/lnurlw/callback" in paths
        assert stack.refunds.currency == "bcrt"  # simnode: regtest
        assert stack.checkout.site.allow_loopback  # the test config's relay is on 127.0.0.1
        assert stack.watcher.handler is stack.payments
        offer = await stack.checkout.offer("cp-001")
        assert offer.callback == "https://charge.example.org/lnurlp/cp-001/callback"
