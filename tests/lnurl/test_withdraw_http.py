"""LNURL-withdraw refunds over real HTTP; the simulated node pays the driver's invoices."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import lnurl
import pytest

from bot.lightning.simnode import read_payments
from bot.lnurl.codec import decode_lnurl
from bot.lnurl.refunds import WithdrawLink
from bot.ports.bolt11 import decode_invoice
from bot.store.refunds import RefundStatus
from tests.lnurl.invoices import issue_invoice
from tests.lnurl.support import REFUND, Site, pay_site, refunding_session

DRIVER_NODE = "22" * 32


@pytest.fixture(params=["cln", "nwc"])
async def site(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Site]:
    # The same withdraw tests on both backends: the payments go through the same node.
    async with pay_site(tmp_path, ln_kind=request.param) as running:
        yield running


def driver_invoice(amount: int | None = REFUND, **kwargs: object) -> str:
    """What the driver's wallet hands the withdraw callback."""
    return issue_invoice(
        amount,
        description="refund",
        created_at=int(time.time()),
        node_key=DRIVER_NODE,
        **kwargs,  # type: ignore[arg-type]
    )[0]


async def link_for(site: Site, session_id: str) -> WithdrawLink:
    link = await site.refunds.withdraw_link(session_id, REFUND)
    assert link is not None
    return link


async def redeem(site: Site, link: WithdrawLink, pr: str) -> dict[str, object]:
    offer = await site.get(decode_lnurl(link.lnurl))
    answer: dict[str, object] = await site.get(offer["callback"], k1=offer["k1"], pr=pr)
    return answer


def paid_hashes(site: Site) -> list[str]:
    return [p.payment_hash for p in read_payments(site.ln_dir) if p.status == "complete"]


async def test_the_link_offers_exactly_the_refund_and_pays_it_once(site: Site) -> None:
    session_id = await refunding_session(site)
    link = await link_for(site, session_id)
    assert link.url.startswith(f"{site.base}/lnurlw/") and link.uri == f"lightning:{link.lnurl}"
    assert await site.refunds.withdraw_link(session_id, REFUND) == link  # asking again: same
    offer = await site.get(link.url)
    parsed = lnurl.LnurlResponse.from_dict(offer)
    assert isinstance(parsed, lnurl.LnurlWithdrawResponse)
    assert offer["minWithdrawable"] == offer["maxWithdrawable"] == REFUND
    assert offer["callback"] == f"{site.base}/lnurlw/callback"
    pr = driver_invoice()
    assert await redeem(site, link, pr) == {"status": "OK"}
    assert paid_hashes(site) == [decode_invoice(pr).payment_hash]
    refund = await site.refunds.store.get(session_id)
    assert refund is not None and refund.status is RefundStatus.PAID
    assert site.refund_events.settled == [(session_id, True, "")]
    # Reuse: the same link, a new invoice.
    again = await site.get(offer["callback"], k1=offer["k1"], pr=driver_invoice())
    assert again == {"status": "ERROR", "reason": "this refund has been paid already"}
    assert (await site.get(link.url))["reason"] == "this refund has been paid already"
    assert len(paid_hashes(site)) == 1
    assert await site.refunds.withdraw_link(session_id, REFUND) is None


async def test_a_wrong_k1_is_refused(site: Site) -> None:
    await refunding_session(site)
    for k1 in ("ab" * 32, "short", "AB" * 32):
        answer = await site.get("/lnurlw/callback", k1=k1, pr=driver_invoice())
        assert answer == {"status": "ERROR", "reason": "unknown or used withdraw link"}
    answer = await site.get(f"/lnurlw/{'ab' * 32}")
    assert answer == {"status": "ERROR", "reason": "unknown or used withdraw link"}
    assert paid_hashes(site) == []


async def test_an_expired_k1_is_refused_and_a_new_link_replaces_it(site: Site) -> None:
    session_id = await refunding_session(site)
    old = await link_for(site, session_id)
    offer = await site.get(old.url)
    site.clock.offset = site.config.sessions.withdraw_expiry_s + 1
    answer = await site.get(offer["callback"], k1=offer["k1"], pr=driver_invoice())
    assert answer == {
        "status": "ERROR",
        "reason": "this withdraw link has expired; ask for a new one",
    }
    new = await link_for(site, session_id)
    assert new.url != old.url
    site.clock.offset = 0  # the driver's wallet issues its invoice at the real time
    assert await redeem(site, new, driver_invoice()) == {"status": "OK"}
    assert len(paid_hashes(site)) == 1


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda: driver_invoice(REFUND + 1), f"above the {REFUND} msat refundable"),
        (lambda: driver_invoice(REFUND - 1000), "below the minimum"),
        (lambda: driver_invoice(None), "must state an amount"),
        (lambda: driver_invoice(currency="bc"), "another network"),
        (lambda: driver_invoice(expiry_s=10), "expires too soon"),
        (lambda: "lnbcrt1garbage", "invalid invoice"),
    ],
)
async def test_a_wrong_invoice_is_refused_and_the_link_still_works(
    site: Site, make: object, reason: str
) -> None:
    session_id = await refunding_session(site)
    link = await link_for(site, session_id)
    answer = await redeem(site, link, make())  # type: ignore[operator]
    assert answer["status"] == "ERROR" and reason in str(answer["reason"])
    assert paid_hashes(site) == []
    assert await redeem(site, link, driver_invoice()) == {"status": "OK"}


async def test_a_failed_payment_releases_the_claim_and_kills_the_link(site: Site) -> None:
    session_id = await refunding_session(site)
    link = await link_for(site, session_id)
    await site.wallet.next_pay("fail", code=205)
    answer = await redeem(site, link, driver_invoice())
    assert answer["status"] == "ERROR"
    assert "the payment failed" in str(answer["reason"]) and "new refund link" in str(
        answer["reason"]
    )
    refund = await site.refunds.store.get(session_id)
    assert refund is not None and refund.status is RefundStatus.RELEASED
    assert site.refund_events.settled[0][:2] == (session_id, False)
    assert (await site.get(link.url))["reason"] == "unknown or used withdraw link"
    # The session layer offers a new link; that one pays.
    assert await redeem(site, await link_for(site, session_id), driver_invoice()) == {
        "status": "OK"
    }
    assert len(paid_hashes(site)) == 1


async def test_a_payment_in_flight_stays_pending_until_the_node_knows(site: Site) -> None:
    session_id = await refunding_session(site)
    link = await link_for(site, session_id)
    await site.wallet.next_pay("pending")
    pr = driver_invoice()
    assert await redeem(site, link, pr) == {"status": "OK"}  # the wallet waits for the money
    result = await site.refunds.check_pending(session_id)
    assert result.status is RefundStatus.PENDING
    assert site.refund_events.settled == []
    again = await site.get("/lnurlw/callback", k1=link.url.rsplit("/", 1)[1], pr=driver_invoice())
    assert again == {"status": "ERROR", "reason": "this refund is being paid already"}
    await site.wallet.resolve_pay(decode_invoice(pr).payment_hash, "complete")
    assert (await site.refunds.check_pending(session_id)).status is RefundStatus.PAID


async def test_two_concurrent_callbacks_with_one_k1_pay_exactly_once(site: Site) -> None:
    session_id = await refunding_session(site)
    link = await link_for(site, session_id)
    offer = await site.get(link.url)
    invoices = [driver_invoice() for _ in range(4)]
    answers = await asyncio.gather(
        *(site.get(offer["callback"], k1=offer["k1"], pr=pr) for pr in invoices)
    )
    assert sorted(a["status"] for a in answers) == ["ERROR", "ERROR", "ERROR", "OK"]
    assert len(paid_hashes(site)) == 1
    assert len(read_payments(site.ln_dir)) == 1  # not even an attempt at a second one
    refund = await site.refunds.store.get(session_id)
    assert refund is not None and refund.status is RefundStatus.PAID
