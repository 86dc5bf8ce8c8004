"""The simulated NWC wallet service, spoken to by a raw NIP-47 client over a real LocalRelay.

Invoices are real BOLT11 (decoded here with the ``bolt11`` package), payments go through
the simulated node's ledger and show in ``read_payments`` (``zapcharge simnode payments``).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import stat
from pathlib import Path

import bolt11
import pytest

from bot.errors import ConfigError
from bot.lightning.nwc.protocol import (
    INFO_KIND,
    NOTIFICATION_KIND_NIP04,
    NOTIFICATION_KIND_NIP44,
    Encryption,
    ErrorCode,
    parse_info,
    parse_transaction,
)
from bot.lightning.nwc.simwallet import (
    READY_LINE,
    WalletFaults,
    WalletOptions,
    fault_words,
    parse_faults,
)
from bot.lightning.simnode import SimnodeClient, read_payments, running_subprocess, serve_in_process
from bot.lightning.simnode.cli import main_from_args
from bot.nostr.primitives import generate_secret_hex, public_key_hex, verify_event
from bot.nostr.relay import LocalRelay
from tests.helpers import scaled
from tests.lightning.nwc.support import World, raw_client, wallet_world

ZAP_REQUEST = json.dumps({"kind": 9734, "content": "", "tags": [["p", "ab" * 32]]})
ZAP_HASH = hashlib.sha256(ZAP_REQUEST.encode()).hexdigest()


async def make_invoice(world: World, amount: int = 21_000, **params: object) -> dict[str, object]:
    response = await world.client.call("make_invoice", {"amount": amount, **params})
    assert response.error is None, response.error
    assert response.result is not None
    return dict(response.result)


async def pay_as_a_driver(world: World, invoice: object) -> None:
    """What ``zapcharge simnode pay`` does: a payer's wallet pays one of the node's invoices."""
    await SimnodeClient(world.lightning_dir).pay_invoice(str(invoice))


# -- the info event ---------------------------------------------------------------------


async def test_the_info_event_offers_the_methods_encryptions_and_notifications(
    tmp_path: Path, relay: LocalRelay
) -> None:
    async with wallet_world(tmp_path / "ln", relay.url) as world:
        events = await world.client.info()
    assert len(events) == 1
    event = events[0]
    assert event["kind"] == INFO_KIND
    assert event["pubkey"] == world.wallet.pubkey
    assert verify_event(event)
    info = parse_info(event["content"], event["tags"])
    assert info.methods == {
        "make_invoice",
        "lookup_invoice",
        "list_transactions",
        "pay_invoice",
        "get_balance",
        "get_info",
        "notifications",
    }
    assert info.encryptions == (Encryption.NIP44_V2, Encryption.NIP04)
    assert info.notifications == {"payment_received", "payment_sent"}


# -- receiving --------------------------------------------------------------------------


async def test_a_zap_invoice_commits_to_the_description_hash(
    tmp_path: Path, relay: LocalRelay
) -> None:
    async with wallet_world(tmp_path / "ln", relay.url) as world:
        result = await make_invoice(world, 21_000, description_hash=ZAP_HASH, expiry=600)
    decoded = bolt11.decode(str(result["invoice"]))
    assert decoded.description_hash == ZAP_HASH
    assert decoded.description is None
    assert decoded.amount_msat == 21_000
    assert decoded.payment_hash == result["payment_hash"]
    assert decoded.expiry == 600
    assert decoded.currency == "bcrt"
    transaction = parse_transaction(result)
    assert (transaction.type, transaction.state) == ("incoming", "pending")
    assert transaction.description_hash == ZAP_HASH
    assert transaction.preimage is None
    assert transaction.expires_at == transaction.created_at + 600


async def test_the_zap_request_and_its_hash_together_must_agree(
    tmp_path: Path, relay: LocalRelay
) -> None:
    async with wallet_world(tmp_path / "ln", relay.url) as world:
        agreeing = await make_invoice(
            world, 5_000, description=ZAP_REQUEST, description_hash=ZAP_HASH
        )
        wrong = await world.client.call(
            "make_invoice", {"amount": 5_000, "description": "x", "description_hash": ZAP_HASH}
        )
    assert bolt11.decode(str(agreeing["invoice"])).description_hash == ZAP_HASH
    assert wrong.error is not None
    assert wrong.error.code is ErrorCode.OTHER


async def test_a_plain_invoice_carries_its_description(tmp_path: Path, relay: LocalRelay) -> None:
    async with wallet_world(tmp_path / "ln", relay.url) as world:
        result = await make_invoice(world, 1_000_000, description="Charging at cp-001")
    decoded = bolt11.decode(str(result["invoice"]))
    assert decoded.description == "Charging at cp-001"
    assert decoded.description_hash is None
    assert result["description"] == "Charging at cp-001"


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"amount": 0},
        {"amount": "1000"},
        {"amount": 1000, "description_hash": "nothex"},
        {"amount": 1000, "expiry": -1},
        {"amount": 1000, "description": "x" * 700},
    ],
    ids=["no-amount", "zero", "string", "bad-hash", "bad-expiry", "too-long"],
)
async def test_bad_make_invoice_params_are_refused(
    tmp_path: Path, relay: LocalRelay, params: dict[str, object]
) -> None:
    async with wallet_world(tmp_path / "ln", relay.url) as world:
        response = await world.client.call("make_invoice", params)
    assert response.result is None
    assert response.error is not None
    assert response.error.code is ErrorCode.OTHER


async def test_a_paid_invoice_is_notified_in_both_encryptions_and_looked_up(
    tmp_path: Path, relay: LocalRelay
) -> None:
    async with wallet_world(tmp_path / "ln", relay.url) as world:
        invoice = await make_invoice(world, 42_000, description_hash=ZAP_HASH)
        await pay_as_a_driver(world, invoice["invoice"])
        received = await world.client.wait_notifications(2)
        by_hash = await world.client.call(
            "lookup_invoice", {"payment_hash": invoice["payment_hash"]}
        )
        by_invoice = await world.client.call("lookup_invoice", {"invoice": invoice["invoice"]})
    assert sorted(r.kind for r in received) == [NOTIFICATION_KIND_NIP04, NOTIFICATION_KIND_NIP44]
    for each in received:
        assert each.notification.notification_type == "payment_received"
        paid = parse_transaction(each.notification.notification)
        assert paid.payment_hash == invoice["payment_hash"]
        assert paid.state == "settled"
        assert paid.amount_msat == 42_000
        assert paid.preimage is not None
        assert hashlib.sha256(bytes.fromhex(paid.preimage)).hexdigest() == paid.payment_hash
        assert paid.settled_at is not None
    assert by_hash.result is not None
    assert by_invoice.result is not None
    assert parse_transaction(by_hash.result) == parse_transaction(by_invoice.result)
    assert parse_transaction(by_hash.result).state == "settled"


async def test_an_unknown_invoice_is_not_found(tmp_path: Path, relay: LocalRelay) -> None:
    async with wallet_world(tmp_path / "ln", relay.url) as world:
        missing = await world.client.call("lookup_invoice", {"payment_hash": "00" * 32})
        neither = await world.client.call("lookup_invoice", {})
    assert missing.error is not None
    assert missing.error.code is ErrorCode.NOT_FOUND
    assert neither.error is not None
    assert neither.error.code is ErrorCode.OTHER


async def test_an_expired_invoice_is_looked_up_as_expired(
    tmp_path: Path, relay: LocalRelay
) -> None:
    async with wallet_world(tmp_path / "ln", relay.url) as world:
        invoice = await make_invoice(world, 1_000, expiry=0)
        found = await world.client.call("lookup_invoice", {"payment_hash": invoice["payment_hash"]})
    assert found.result is not None
    assert found.result["state"] == "expired"


async def test_list_transactions_filters_and_pages(tmp_path: Path, relay: LocalRelay) -> None:
    async with wallet_world(tmp_path / "ln", relay.url) as world:
        invoices = [await make_invoice(world, 1_000 * (n + 1)) for n in range(3)]
        for invoice in invoices[:2]:
            await pay_as_a_driver(world, invoice["invoice"])

        async def listed(**params: object) -> list[str]:
            response = await world.client.call("list_transactions", dict(params))
            assert response.result is not None, response.error
            return [str(t["payment_hash"]) for t in response.result["transactions"]]

        paid = await listed()
        everything = await listed(unpaid=True)
        first = await listed(unpaid=True, limit=1)
        rest = await listed(unpaid=True, limit=5, offset=1)
        outgoing = await listed(type="outgoing", unpaid=True)
        future = await listed(**{"from": world.server.node.now() + 3600})
        bad = await world.client.call("list_transactions", {"type": "sideways"})
    hashes = [str(i["payment_hash"]) for i in invoices]
    assert set(paid) == set(hashes[:2])
    assert set(everything) == set(hashes)
    assert len(first) == 1
    assert first + rest == everything
    assert outgoing == []
    assert future == []
    assert bad.error is not None


# -- paying -----------------------------------------------------------------------------


async def test_pay_invoice_pays_once_and_refuses_the_second_time(
    tmp_path: Path, relay: LocalRelay
) -> None:
    async with (
        serve_in_process(tmp_path / "driver") as driver,
        wallet_world(tmp_path / "ln", relay.url) as world,
    ):
        refund = await SimnodeClient(tmp_path / "driver").call(
            "invoice", {"amount_msat": 7_000, "label": "refund", "description": "refund"}
        )
        first = await world.client.call("pay_invoice", {"invoice": refund["bolt11"]})
        again = await world.client.call("pay_invoice", {"invoice": refund["bolt11"]})
        sent = await world.client.wait_notifications(2)
        looked_up = await world.client.call(
            "lookup_invoice", {"payment_hash": refund["payment_hash"]}
        )
        del driver
    assert first.error is None
    assert first.result is not None
    assert len(str(first.result["preimage"])) == 64
    assert first.result["fees_paid"] == 1  # 1 msat base + 10 ppm of 7 sat, rounded down
    assert again.error is not None
    assert again.error.code is ErrorCode.OTHER
    assert "already paid" in again.error.message
    payments = read_payments(tmp_path / "ln")
    assert [(p.payment_hash, p.status, p.amount_msat) for p in payments] == [
        (refund["payment_hash"], "complete", 7_000)
    ]
    assert {r.notification.notification_type for r in sent} == {"payment_sent"}
    assert looked_up.result is not None
    outgoing = parse_transaction(looked_up.result)
    assert (outgoing.type, outgoing.state, outgoing.fees_paid_msat) == ("outgoing", "settled", 1)


async def test_an_amountless_invoice_is_paid_the_amount_asked(
    tmp_path: Path, relay: LocalRelay
) -> None:
    async with (
        serve_in_process(tmp_path / "driver"),
        wallet_world(tmp_path / "ln", relay.url) as world,
    ):
        refund = await SimnodeClient(tmp_path / "driver").call(
            "invoice", {"amount_msat": "any", "label": "r", "description": "refund"}
        )
        paid = await world.client.call(
            "pay_invoice", {"invoice": refund["bolt11"], "amount": 3_000}
        )
    assert paid.error is None
    assert [p.amount_msat for p in read_payments(tmp_path / "ln")] == [3_000]


@pytest.mark.parametrize(
    ("outcome", "code", "expected"),
    [
        ("fail", 205, ErrorCode.PAYMENT_FAILED),
        ("fail", 215, ErrorCode.INSUFFICIENT_BALANCE),
    ],
)
async def test_a_refused_payment_carries_its_nip47_code(
    tmp_path: Path, relay: LocalRelay, outcome: str, code: int, expected: ErrorCode
) -> None:
    async with (
        serve_in_process(tmp_path / "driver"),
        wallet_world(tmp_path / "ln", relay.url) as world,
    ):
        refund = await SimnodeClient(tmp_path / "driver").call(
            "invoice", {"amount_msat": 1_000, "label": "r", "description": "refund"}
        )
        await SimnodeClient(tmp_path / "ln").next_pay(outcome, code=code)
        refused = await world.client.call("pay_invoice", {"invoice": refund["bolt11"]})
        retried = await world.client.call("pay_invoice", {"invoice": refund["bolt11"]})
    assert refused.error is not None
    assert refused.error.code is expected
    assert retried.error is None  # a definite failure may be tried again, and then pays


async def test_a_payment_left_in_flight_gets_no_answer_and_looks_pending(
    tmp_path: Path, relay: LocalRelay
) -> None:
    async with (
        serve_in_process(tmp_path / "driver"),
        wallet_world(tmp_path / "ln", relay.url) as world,
    ):
        refund = await SimnodeClient(tmp_path / "driver").call(
            "invoice", {"amount_msat": 1_000, "label": "r", "description": "refund"}
        )
        await SimnodeClient(tmp_path / "ln").next_pay("pending")
        with pytest.raises(TimeoutError):
            await world.client.call("pay_invoice", {"invoice": refund["bolt11"]}, wait_s=1)
        pending = await world.client.call(
            "lookup_invoice", {"payment_hash": refund["payment_hash"]}
        )
        again = await world.client.call("pay_invoice", {"invoice": refund["bolt11"]})
        await SimnodeClient(tmp_path / "ln").resolve_pay(str(refund["payment_hash"]), "complete")
        sent = await world.client.wait_notifications(2)
        settled = await world.client.call(
            "lookup_invoice", {"payment_hash": refund["payment_hash"]}
        )
    assert pending.result is not None
    assert pending.result["state"] == "pending"
    assert again.error is not None
    assert "in flight" in again.error.message
    assert {r.notification.notification_type for r in sent} == {"payment_sent"}
    assert settled.result is not None
    assert settled.result["state"] == "settled"


async def test_a_garbage_invoice_is_a_failed_payment(tmp_path: Path, relay: LocalRelay) -> None:
    async with wallet_world(tmp_path / "ln", relay.url) as world:
        refused = await world.client.call("pay_invoice", {"invoice": "lnbcrt1garbage"})
        missing = await world.client.call("pay_invoice", {})
    assert refused.error is not None
    assert refused.error.code is ErrorCode.PAYMENT_FAILED
    assert missing.error is not None
    assert read_payments(tmp_path / "ln") == []


async def test_balance_follows_the_ledger_and_info_describes_the_node(
    tmp_path: Path, relay: LocalRelay
) -> None:
    async with wallet_world(tmp_path / "ln", relay.url) as world:
        before = await world.client.call("get_balance")
        invoice = await make_invoice(world, 5_000)
        await pay_as_a_driver(world, invoice["invoice"])
        after = await world.client.call("get_balance")
        info = await world.client.call("get_info")
    assert before.result is not None
    assert after.result is not None
    assert after.result["balance"] - before.result["balance"] == 5_000
    assert info.result is not None
    assert info.result["network"] == "regtest"
    assert info.result["pubkey"] == world.server.node.node_id
    assert "pay_invoice" in info.result["methods"]


# -- encryption and who may ask ---------------------------------------------------------


async def test_an_older_client_without_encryption_tag_is_answered_in_nip04(
    tmp_path: Path, relay: LocalRelay
) -> None:
    async with wallet_world(tmp_path / "ln", relay.url) as world:
        response = await world.client.call("get_balance", encryption=None)
        explicit = await world.client.call("get_balance", encryption=Encryption.NIP04)
    assert response.result is not None
    assert explicit.result is not None


async def test_an_unknown_encryption_is_unsupported(tmp_path: Path, relay: LocalRelay) -> None:
    async with wallet_world(tmp_path / "ln", relay.url) as world:
        client = world.client
        event = client.request_event("get_balance", {}, Encryption.NIP44_V2)
        event["tags"] = [["p", client.wallet_pubkey], ["encryption", "nip44_v3"]]
        from bot.nostr.primitives import sign_event

        resigned = sign_event(client.secret, event["kind"], event["content"], event["tags"])
        reply = await client.send_and_wait(resigned, 5)
    from bot.lightning.nwc.protocol import decode_response
    from bot.nostr.primitives import decrypt

    text = decrypt(Encryption.NIP44_V2, client.secret, client.wallet_pubkey, reply["content"])
    error = decode_response(text).error
    assert error is not None
    assert error.code is ErrorCode.UNSUPPORTED_ENCRYPTION


async def test_a_stranger_is_unauthorized(tmp_path: Path, relay: LocalRelay) -> None:
    async with (
        wallet_world(tmp_path / "ln", relay.url) as world,
        raw_client(relay.url, generate_secret_hex(), world.wallet.pubkey) as stranger,
    ):
        refused = await stranger.call("make_invoice", {"amount": 1000})
    assert refused.error is not None
    assert refused.error.code is ErrorCode.UNAUTHORIZED
    assert read_payments(tmp_path / "ln") == []


async def test_an_expired_request_is_ignored(tmp_path: Path, relay: LocalRelay) -> None:
    # The LocalRelay itself refuses expired events, so the wallet is handed it directly.
    from bot.nostr.primitives import sign_event

    async with wallet_world(tmp_path / "ln", relay.url) as world:
        client = world.client
        plain = client.request_event("get_balance", {}, Encryption.NIP44_V2)
        now = world.server.node.now()

        def with_expiration(when: int) -> dict[str, object]:
            tags = [*plain["tags"], ["expiration", str(when)]]
            return sign_event(client.secret, plain["kind"], plain["content"], tags)

        assert await world.wallet.handle(with_expiration(now - 10)) == []
        assert len(await world.wallet.handle(with_expiration(now + 60))) == 1


# -- fault switches ---------------------------------------------------------------------


async def test_nip04_only_wallet(tmp_path: Path, relay: LocalRelay) -> None:
    faults = WalletFaults(nip04_only=True)
    async with wallet_world(tmp_path / "ln", relay.url, faults) as world:
        [event] = await world.client.info()
        refused = await world.client.call("get_balance", encryption=Encryption.NIP04)
        client = world.client
        nip44 = client.request_event("get_balance", {}, Encryption.NIP44_V2)
        reply = await client.send_and_wait(nip44, 5)
        invoice = await make_invoice_nip04(world)
        await pay_as_a_driver(world, invoice["invoice"])
        received = await world.client.wait_notifications(1)
        await client.call("get_balance", encryption=Encryption.NIP04)  # later than any notice
    assert not any(tag[0] == "encryption" for tag in event["tags"])
    assert parse_info(event["content"], event["tags"]).encryptions == (Encryption.NIP04,)
    assert refused.result is not None
    from bot.lightning.nwc.protocol import decode_response
    from bot.nostr.primitives import decrypt

    error = decode_response(
        decrypt(Encryption.NIP04, client.secret, client.wallet_pubkey, reply["content"])
    ).error
    assert error is not None
    assert error.code is ErrorCode.UNSUPPORTED_ENCRYPTION
    assert [r.kind for r in received] == [NOTIFICATION_KIND_NIP04]


async def make_invoice_nip04(world: World) -> dict[str, object]:
    response = await world.client.call(
        "make_invoice", {"amount": 1_000}, encryption=Encryption.NIP04
    )
    assert response.result is not None
    return dict(response.result)


async def test_no_notifications(tmp_path: Path, relay: LocalRelay) -> None:
    async with wallet_world(
        tmp_path / "ln", relay.url, WalletFaults(no_notifications=True)
    ) as world:
        [event] = await world.client.info()
        invoice = await make_invoice(world, 1_000)
        await pay_as_a_driver(world, invoice["invoice"])
        # A notification would have been sent before this answer: the wallet handles one
        # thing at a time and the relay keeps order per connection.
        looked_up = await world.client.call(
            "lookup_invoice", {"payment_hash": invoice["payment_hash"]}
        )
        await asyncio.sleep(scaled(0.2))
    info = parse_info(event["content"], event["tags"])
    assert info.notifications == frozenset()
    assert "notifications" not in info.methods
    assert looked_up.result is not None
    assert looked_up.result["state"] == "settled"
    assert world.client.notifications == []


async def test_a_dropped_notification_never_comes(tmp_path: Path, relay: LocalRelay) -> None:
    async with wallet_world(
        tmp_path / "ln", relay.url, WalletFaults(drop_notifications=1)
    ) as world:
        first = await make_invoice(world, 1_000)
        second = await make_invoice(world, 2_000)
        await pay_as_a_driver(world, first["invoice"])
        await pay_as_a_driver(world, second["invoice"])
        received = await world.client.wait_notifications(2)
        await asyncio.sleep(scaled(0.2))
    hashes = {parse_transaction(r.notification.notification).payment_hash for r in received}
    assert hashes == {second["payment_hash"]}
    assert len(world.client.notifications) == 2  # NIP-44 and NIP-04 of the second only


async def test_duplicate_notifications(tmp_path: Path, relay: LocalRelay) -> None:
    faults = WalletFaults(duplicate_notifications=True)
    async with wallet_world(tmp_path / "ln", relay.url, faults) as world:
        invoice = await make_invoice(world, 1_000)
        await pay_as_a_driver(world, invoice["invoice"])
        received = await world.client.wait_notifications(4)
    nip44 = [r for r in received if r.kind == NOTIFICATION_KIND_NIP44]
    assert len(nip44) == 2
    assert nip44[0].event_id != nip44[1].event_id
    assert nip44[0].notification == nip44[1].notification


async def test_dropped_responses_are_still_carried_out(tmp_path: Path, relay: LocalRelay) -> None:
    faults = WalletFaults(drop_responses={"pay_invoice": 1})
    async with (
        serve_in_process(tmp_path / "driver"),
        wallet_world(tmp_path / "ln", relay.url, faults) as world,
    ):
        refund = await SimnodeClient(tmp_path / "driver").call(
            "invoice", {"amount_msat": 2_000, "label": "r", "description": "refund"}
        )
        with pytest.raises(TimeoutError):
            await world.client.call("pay_invoice", {"invoice": refund["bolt11"]}, wait_s=1)
        looked_up = await world.client.call(
            "lookup_invoice", {"payment_hash": refund["payment_hash"]}
        )
        again = await world.client.call("pay_invoice", {"invoice": refund["bolt11"]})
    assert [p.status for p in read_payments(tmp_path / "ln")] == ["complete"]
    assert looked_up.result is not None
    assert looked_up.result["state"] == "settled"
    assert again.error is not None  # answered now, and refused: never paid twice
    assert world.wallet.faults.drop_responses == {"pay_invoice": 0}


async def test_a_method_left_out_is_not_implemented(tmp_path: Path, relay: LocalRelay) -> None:
    faults = WalletFaults(without_methods=frozenset({"lookup_invoice"}))
    async with wallet_world(tmp_path / "ln", relay.url, faults) as world:
        [event] = await world.client.info()
        refused = await world.client.call("lookup_invoice", {"payment_hash": "00" * 32})
        unknown = await world.client.call("pay_keysend", {"amount": 1, "pubkey": "02" * 33})
    assert "lookup_invoice" not in parse_info(event["content"], event["tags"]).methods
    assert refused.error is not None
    assert refused.error.code is ErrorCode.NOT_IMPLEMENTED
    assert unknown.error is not None
    assert unknown.error.code is ErrorCode.NOT_IMPLEMENTED


async def test_a_wallet_that_is_down_answers_nothing_until_it_is_back(
    tmp_path: Path, relay: LocalRelay
) -> None:
    async with wallet_world(tmp_path / "ln", relay.url) as world:
        await world.wallet.set_faults(online=False)
        with pytest.raises(TimeoutError):
            await world.client.call("get_balance", wait_s=1)
        invoice_paid_while_down = await SimnodeClient(tmp_path / "ln").call(
            "invoice", {"amount_msat": 1_000, "label": "down", "description": "d"}
        )
        await pay_as_a_driver(world, invoice_paid_while_down["bolt11"])
        await world.wallet.set_faults(online=True)
        await asyncio.wait_for(world.wallet.ready.wait(), scaled(10))
        back = await world.client.call("get_balance")
        looked_up = await world.client.call(
            "lookup_invoice", {"payment_hash": invoice_paid_while_down["payment_hash"]}
        )
    assert back.result is not None
    assert looked_up.result is not None
    assert looked_up.result["state"] == "settled"
    assert world.client.notifications == []  # nobody heard of it while the wallet was down


async def test_a_wallet_started_down_comes_up_when_told(tmp_path: Path, relay: LocalRelay) -> None:
    async with wallet_world(tmp_path / "ln", relay.url, WalletFaults(online=False)) as world:
        assert await world.client.info() == []
        await world.wallet.set_faults(online=True)
        await asyncio.wait_for(world.wallet.ready.wait(), scaled(10))
        assert len(await world.client.info()) == 1


async def test_the_wallet_reconnects_when_its_relay_comes_back(
    tmp_path: Path, relay: LocalRelay
) -> None:
    async with wallet_world(tmp_path / "ln", relay.url) as world:
        relay.stop()
        await relay.start()
        for _ in range(200):
            if world.wallet.ready.is_set() and await _info_on(relay.url, world.wallet.pubkey):
                break
            await asyncio.sleep(0.05)
        async with raw_client(relay.url, world.client_secret, world.wallet.pubkey) as client:
            response = await client.call("get_balance")
    assert response.result is not None


async def _info_on(url: str, wallet_pubkey: str) -> bool:
    async with raw_client(url, generate_secret_hex(), wallet_pubkey) as probe:
        return bool(await probe.info())


async def test_changing_faults_republishes_the_info_event(
    tmp_path: Path, relay: LocalRelay
) -> None:
    async with wallet_world(tmp_path / "ln", relay.url) as world:
        [before] = await world.client.info()
        await world.wallet.set_faults(nip04_only=True)
        [after] = await world.client.info()
    assert before["id"] != after["id"]
    assert after["created_at"] > before["created_at"]
    assert parse_info(after["content"], after["tags"]).encryptions == (Encryption.NIP04,)


def test_fault_words_read_back() -> None:
    faults = WalletFaults(
        nip04_only=True,
        no_notifications=True,
        duplicate_notifications=True,
        drop_notifications=2,
        drop_responses={"pay_invoice": 1, "lookup_invoice": 3},
        without_methods=frozenset({"list_transactions"}),
        online=False,
    )
    assert parse_faults(fault_words(faults)) == faults
    assert parse_faults([]) == WalletFaults()
    with pytest.raises(ValueError, match="lose_money"):
        parse_faults(["lose_money"])
    with pytest.raises(ValueError, match="drop_responses"):
        parse_faults(["drop_responses=pay_invoice"])


# -- as its own process -----------------------------------------------------------------


@pytest.mark.slow
async def test_simnode_process_with_nwc_writes_a_private_uri_and_keeps_it(
    tmp_path: Path, relay: LocalRelay
) -> None:
    uri_file = tmp_path / "wallet.nwc"
    options = WalletOptions(uri_file, relay.url, WalletFaults(drop_responses={"get_info": 1}))
    async with running_subprocess(tmp_path / "ln", nwc=options) as node:
        assert READY_LINE in node.log_path.read_text()
        assert "SIMULATED" in node.log_path.read_text()
        mode = stat.S_IMODE(uri_file.stat().st_mode)
        uri = uri_file.read_text().strip()
        wallet_pubkey = uri.removeprefix("nostr+walletconnect://").split("?")[0]
        secret = uri.split("secret=")[1]
        async with raw_client(relay.url, secret, wallet_pubkey) as client:
            invoice = await client.call("make_invoice", {"amount": 1_000})
            with pytest.raises(TimeoutError):
                await client.call("get_info", wait_s=1)
            faults = await SimnodeClient(tmp_path / "ln").call(
                "dev-simnode-nwc-faults", {"drop_responses": {"get_balance": 1}}
            )
            with pytest.raises(TimeoutError):
                await client.call("get_balance", wait_s=1)
    assert mode == 0o600
    assert "relay=ws%3A%2F%2F127.0.0.1%3A" in uri
    assert public_key_hex(secret) != wallet_pubkey  # the client has a key of its own
    assert invoice.result is not None
    assert faults["drop_responses"] == {"get_balance": 1}  # a new dict replaces the old
    async with running_subprocess(tmp_path / "ln", nwc=options):
        assert uri_file.read_text().strip() == uri  # the same wallet and client across restarts


def test_cli_wants_a_relay_with_nwc(tmp_path: Path) -> None:
    from bot.cli import build_parser

    parser = build_parser()
    args = parser.parse_args(["simnode", "--lightning-dir", str(tmp_path), "--nwc", "w.nwc"])
    with pytest.raises(ConfigError, match="--nwc-relay"):
        main_from_args(args)
    args = parser.parse_args(
        [
            "simnode",
            "--lightning-dir",
            str(tmp_path),
            "--nwc",
            "w.nwc",
            "--nwc-relay",
            "ws://x",
            "--nwc-fault",
            "explode",
        ]
    )
    with pytest.raises(ConfigError, match="explode"):
        main_from_args(args)
