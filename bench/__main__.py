"""Run the benchmarks (``make bench``, or ``python -m bench NAME ...`` for some of them).

Every module in this package with an ``async def run()`` is a benchmark; each prints its
own report, with ratios measured side by side in the same run.
"""

from __future__ import annotations

import asyncio
import importlib
import pkgutil
import sys
from pathlib import Path


def discover() -> list[str]:
    here = str(Path(__file__).parent)
    return sorted(m.name for m in pkgutil.iter_modules([here]) if not m.name.startswith("_"))


def main(argv: list[str]) -> int:
    names = discover()
    unknown = [a for a in argv if a not in names]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(names)}")
        return 2
    for name in argv or names:
        module = importlib.import_module(f"bench.{name}")
        if not hasattr(module, "run"):
            continue
        print(f"== bench.{name}")
        asyncio.run(module.run())
    return 0


raise SystemExit(main(sys.argv[1:]))
