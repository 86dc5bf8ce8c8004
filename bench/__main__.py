"""Run every benchmark module named in ``BENCHMARKS`` and print its report."""

from __future__ import annotations

import asyncio
import importlib
import sys

BENCHMARKS: tuple[str, ...] = ("bench.store", "bench.nostr")


def main(argv: list[str]) -> int:
    chosen = [b for b in BENCHMARKS if not argv or b.rsplit(".", 1)[-1] in argv]
    for name in chosen:
        module = importlib.import_module(name)
        print(f"== {name}")
        asyncio.run(module.run())
    return 0


raise SystemExit(main(sys.argv[1:]))
