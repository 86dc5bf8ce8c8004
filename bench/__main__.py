"""Run the benchmarks (``make bench``, or ``python -m bench NAME ... [--chargers N]``).

Every module in this package with an ``async def run()`` is a benchmark; each prints its
own report, with ratios measured side by side in the same run. ``--chargers N`` sizes the
benchmarks that take a ``chargers`` argument (the fleet figures).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import inspect
import pkgutil
import sys
from pathlib import Path


def discover() -> list[str]:
    here = str(Path(__file__).parent)
    return sorted(m.name for m in pkgutil.iter_modules([here]) if not m.name.startswith("_"))


def main(argv: list[str]) -> int:
    names = discover()
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("names", nargs="*", metavar="NAME", help=", ".join(names))
    parser.add_argument("--chargers", type=int, help="fleet size (bench.fleet: default 1000)")
    args = parser.parse_args(argv)
    unknown = [a for a in args.names if a not in names]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(names)}")
        return 2
    for name in args.names or names:
        module = importlib.import_module(f"bench.{name}")
        if not hasattr(module, "run"):
            continue
        print(f"== bench.{name}")
        options = {}
        if args.chargers and "chargers" in inspect.signature(module.run).parameters:
            options["chargers"] = args.chargers
        asyncio.run(module.run(**options))
    return 0


raise SystemExit(main(sys.argv[1:]))
