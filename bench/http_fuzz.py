"""HTTP fuzz tier, long: seeded hostile requests against the real LNURL/NIP-05 server.

The suite sends 1,500 (tests/lnurl/test_http_fuzz.py); this sends REQUESTS over CLIENTS
concurrent connections, within DEADLINE_S, and reports what a wallet must never see:
5xx answers, LNURL paths answered without CORS or with something that is not a JSON
object, ERRORs without a reason (each target 0), invoices issued (target 0: no request
here is a valid payment), and the answers by HTTP status. The server is the pay site of
``zapcharge run`` on real SQLite and a simulated Lightning node (tests.lnurl.support).
"""

from __future__ import annotations

import asyncio
import os
import random
import tempfile
import time
from collections import Counter
from pathlib import Path

import aiohttp

from tests.lnurl.fuzz import problem, request
from tests.lnurl.support import Site, pay_site

REQUESTS = int(os.environ.get("BENCH_HTTP_FUZZ_REQUESTS", "100000"))
CLIENTS = 8
DEADLINE_S = 600.0


async def _client(
    site: Site, seed: int, count: int, stop_at: float
) -> tuple[Counter[int], list[str]]:
    rng = random.Random(seed)  # noqa: S311 -- reproducible junk, not secrets
    statuses: Counter[int] = Counter()
    problems: list[str] = []
    for _ in range(count):
        if time.monotonic() > stop_at:
            break
        method, target = request(rng)
        try:
            async with site.http.request(method, site.base + target) as response:
                statuses[response.status] += 1
                wrong = await problem(method, target, response)
        except aiohttp.ClientResponseError as refused:
            # A request line beyond the server's 8 KiB limit gets a 400 before any handler
            # runs, on a closed connection: the client reports it as an error.
            statuses[refused.status] += 1
            wrong = f"{method} {target[:80]} -> {refused.status}" if refused.status >= 500 else None
        except aiohttp.ClientConnectionError as lost:
            wrong = f"{method} {target[:80]}: connection lost ({lost})"
        if wrong is not None:
            problems.append(wrong)
    return statuses, problems


async def run() -> None:
    with tempfile.TemporaryDirectory(prefix="zapcharge-http-fuzz-") as tmp:
        async with pay_site(Path(tmp)) as site:
            started = time.monotonic()
            stop_at = started + DEADLINE_S
            share = -(-REQUESTS // CLIENTS)
            results = await asyncio.gather(
                *(_client(site, 1300 + n, share, stop_at) for n in range(CLIENTS))
            )
            elapsed = time.monotonic() - started
            statuses: Counter[int] = Counter()
            problems: list[str] = []
            for counted, found in results:
                statuses.update(counted)
                problems.extend(found)
            rows = await site.db.fetchall("SELECT COUNT(*) AS n FROM invoices")
    sent = sum(statuses.values())
    print(
        f"requests answered: {sent:,} of {REQUESTS:,} in {elapsed:.1f} s ({sent / elapsed:,.0f}/s)"
    )
    if sent < REQUESTS:
        print(f"  stopped at the {DEADLINE_S:.0f} s deadline")
    print(f"answers a wallet cannot use (target 0): {len(problems)}")
    for wrong in problems[:10]:
        print(f"  {wrong}")
    print(f"invoices issued (target 0): {rows[0]['n']}")
    print("by status: " + ", ".join(f"{code}: {n:,}" for code, n in sorted(statuses.items())))
