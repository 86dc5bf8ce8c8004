from __future__ import annotations

from pathlib import Path

from bot.store import Database
from bot.store.receipts import MAX_REJECTS, Claim, ReceiptStore


def claim(payment_hash: str, created_at: int) -> Claim:
    return Claim(
        payment_hash=payment_hash,
        receipt_id="r" + payment_hash,
        charger_id="cp-001",
        connector_id=1,
        zapper_pubkey="z" * 64,
        payer_pubkey="p" * 64,
        payer_relays=("ws://127.0.0.1:1",),
        amount_msat=1000,
        paid_at=created_at,
        receipt_created_at=created_at,
    )


async def test_one_claim_per_payment_and_a_cursor_that_only_moves_on(tmp_path: Path) -> None:
    async with await Database.open(tmp_path / "z.sqlite3") as db:
        store = ReceiptStore(db)
        assert await store.claim(claim("h1", 200), 1.0)
        assert not await store.claim(claim("h1", 300), 2.0)
        assert [c.payment_hash for c in await store.unfinished()] == ["h1"]
        assert await store.cursor() is None
        await store.finished("h1", "s1")
        assert await store.unfinished() == []
        assert await store.cursor() == 200
        assert await store.claim(claim("h0", 100), 3.0)
        await store.finished("h0", "s0")
        assert await store.cursor() == 200
        stored = await store.get("h1")
        assert stored is not None and (stored.state, stored.session_id) == ("done", "s1")
        assert stored.payer_relays == ("ws://127.0.0.1:1",)


async def test_refusals_are_kept_once_and_bounded(tmp_path: Path) -> None:
    async with await Database.open(tmp_path / "z.sqlite3") as db:
        store = ReceiptStore(db)
        for _ in range(2):
            await store.reject(
                "e1", charger_id=None, payment_hash=None, code="untrusted-signer", reason="x", now=1
            )
        assert len(await store.rejects()) == 1
        await db.execute(
            "INSERT INTO zap_receipt_rejects (id, receipt_id, code, reason, seen_at)"
            " VALUES (?, 'e-late', 'x', 'x', 1)",
            (MAX_REJECTS + 1,),
        )
        await store.reject(
            "e2", charger_id="cp-001", payment_hash="h", code="unpaid", reason="y", now=2
        )
        assert [r.receipt_id for r in await store.rejects()] == ["e-late", "e2"]  # e1 pruned
        assert [r.code for r in await store.rejects("cp-001")] == ["unpaid"]
