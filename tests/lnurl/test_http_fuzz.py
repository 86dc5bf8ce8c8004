"""The HTTP fuzz tier: seeded hostile requests against the real LNURL/NIP-05 server.

Whatever the path, method, query or encoding: never a 5xx, every LNURL-shaped path answers
JSON that a wallet can read (a LUD answer or ``{"status": "ERROR", "reason": ...}``) with
CORS headers, and no invoice is issued for a request that is not a valid one.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.lnurl.fuzz import problem, request
from tests.lnurl.support import Site, pay_site

REQUESTS = 1500


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    async with pay_site(tmp_path) as running:
        yield running


async def test_hostile_requests_never_cost_a_5xx_or_an_invoice(site: Site) -> None:
    rng = random.Random(13)
    statuses: dict[int, int] = {}
    for _ in range(REQUESTS):
        method, target = request(rng)
        async with site.http.request(method, site.base + target) as response:
            statuses[response.status] = statuses.get(response.status, 0) + 1
            assert await problem(method, target, response) is None
    rows = await site.db.fetchall("SELECT COUNT(*) AS n FROM invoices")
    # Only "amount=1000" on the real callback could be valid; it is below min_sendable.
    assert rows[0]["n"] == 0
    assert len(statuses) >= 3
