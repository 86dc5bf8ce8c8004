"""Store write throughput: single-statement commits against batched transactions."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from bot.store import Database

ROWS = 2000


async def run() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = await Database.open(Path(tmp) / "bench.sqlite3")
        try:
            started = time.perf_counter()
            for i in range(ROWS):
                await db.execute("INSERT INTO state (key, value) VALUES (?, ?)", (f"a{i}", "x"))
            single = time.perf_counter() - started
            started = time.perf_counter()
            async with db.transaction() as tx:
                for i in range(ROWS):
                    await tx.execute("INSERT INTO state (key, value) VALUES (?, ?)", (f"b{i}", "x"))
            batched = time.perf_counter() - started
        finally:
            await db.close()
    print(
        f"{ROWS} commits: {ROWS / single:,.0f}/s; one transaction: {ROWS / batched:,.0f}/s "
        f"(ratio {single / batched:.1f}x)"
    )
