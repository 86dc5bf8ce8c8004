"""Fleet scale, measured from outside: ``python -m bench fleet [--chargers N]``.

Three processes besides this one: the load generator (:mod:`bench.fleet.load`, raw
asyncio websockets, frames by hand), the reference (:mod:`bench.fleet.bare`, the ``ocpp``
library with do-nothing handlers) and ``zapcharge run`` itself with N configured chargers,
a LocalRelay (in this process) and a simulated Lightning node. Same machine, same run:

1. start-up of ``zapcharge run``: time until it answers an OCPP handshake, memory before
   any charger connects, presence events queued, every charger's 33600 on the relay;
2. OCPP throughput at 50 chargers, closed loops: Heartbeat and MeterValues, bare vs ours;
3. connect of N (200 handshakes in flight): time until all are Accepted, server CPU
   seconds, memory per connected idle charger;
4. status latency: 500 chargers flapping, StatusNotification -> 33600 on the relay;
5. reconnect storm: every TCP connection dropped at once, all reconnect; time until all
   are Accepted, chargers closed mid-boot, BootNotification -> 33600 on the relay;
6. restart with the same data: start-up again, presence events published again.

Every phase has a deadline; the bench stops by itself.
"""

from __future__ import annotations

import asyncio
import math
import re
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.fleet.setup import (
    Process,
    python,
    raise_file_limit,
    write_identities,
    write_installation,
)
from bench.fleet.watch import RelayWatch, watching
from bench.fleet.wire import Closed, connect
from bot.nostr.relay import free_port, local_relay

__all__ = ["run"]

THROUGHPUT_CHARGERS = 50
THROUGHPUT_S = 5.0
WARMUP_S = 1.0
IN_FLIGHT = 200
FLAPPING = 500
FLAP_S = 30.0
FLAP_PERIOD_S = 5.0


def _report(line: str) -> None:
    print(line, flush=True)


def percentile(values: list[float], p: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1)]


class Ours:
    """``zapcharge run`` on the bench installation."""

    def __init__(self, root: Path, config: Path, port: int) -> None:
        self.root, self.config, self.port = root, config, port
        self.log = root / "zapcharge.log"
        self.process: Process | None = None

    async def start(self, deadline_s: float) -> float:
        """Spawn it; return the seconds until an OCPP handshake is answered."""
        self.process = Process(python("-m", "bot", "--config", str(self.config), "run"), self.log)
        started = time.monotonic()
        while time.monotonic() - started < deadline_s:
            try:
                charger = await connect("127.0.0.1", self.port, "/ocpp/cp-0", "cp-0", "password-0")
                charger.close()
                return time.monotonic() - started
            except (OSError, Closed):
                if self.process.proc.poll() is not None:
                    raise RuntimeError(f"zapcharge run exited; see {self.log}") from None
                await asyncio.sleep(0.05)
        raise RuntimeError(f"zapcharge run did not accept OCPP within {deadline_s:.0f} s")

    async def stop(self) -> None:
        if self.process is not None:
            await self.process.stop()


async def _load(port: int, root: Path, name: str) -> Process:
    return Process(
        python("-m", "bench.fleet.load", "127.0.0.1", str(port)),
        root / f"load-{name}.log",
        stdin=True,
    )


async def _bare(root: Path) -> tuple[Process, int]:
    bare = Process(python("-m", "bench.fleet.bare"), root / "bare.log", stdin=True)
    line = await bare.readline(60)
    return bare, int(line.split()[1])


async def _throughput(results: dict[str, Any], bare_port: int, ours: Ours, root: Path) -> None:
    for action in ("Heartbeat", "MeterValues"):
        rates: dict[str, list[float]] = {"bare": [], "ours": []}
        for _ in range(2):  # rounds interleaved, so drift hits both sides
            for side, port in (("bare", bare_port), ("ours", ours.port)):
                load = await _load(port, root, f"throughput-{side}")
                answer = await load.ask(
                    {
                        "op": "throughput",
                        "action": action,
                        "chargers": THROUGHPUT_CHARGERS,
                        "duration": THROUGHPUT_S,
                        "warmup": WARMUP_S,
                    },
                    THROUGHPUT_S + WARMUP_S + 120,
                )
                await load.ask({"op": "close"}, 30)
                await load.stop()
                rates[side].append(float(answer["rate"]))
                if side == "ours" and ours.process is not None:
                    await ours.process.quiet(within=30)
        bare, mine = (sum(r) / len(r) for r in (rates["bare"], rates["ours"]))
        results[action] = (bare, mine)
        _report(
            f"  {action:11} at {THROUGHPUT_CHARGERS} chargers: bare {bare:7,.0f}/s,"
            f" zapcharge {mine:7,.0f}/s, ratio {mine / bare:.2f}x"
        )


async def _connect_phase(
    side: str, *, server: Process, port: int, count: int, root: Path, deadline_s: float
) -> tuple[Process, dict[str, Any]]:
    load = await _load(port, root, f"fleet-{side}")
    before_rss, before_cpu = server.rss_kb(), server.cpu_s()
    answer = await load.ask(
        {"op": "connect", "count": count, "in_flight": IN_FLIGHT, "deadline": deadline_s},
        deadline_s + 60,
    )
    answer["cpu_s"] = server.cpu_s() - before_cpu
    await server.quiet(within=min(120.0, deadline_s))
    answer["idle_kb"] = (server.rss_kb() - before_rss) / max(1, count)
    return load, answer


async def _storm_phase(load: Process, server: Process, deadline_s: float) -> dict[str, Any]:
    before_cpu = server.cpu_s()
    answer = await load.ask(
        {"op": "storm", "in_flight": IN_FLIGHT, "deadline": deadline_s}, deadline_s + 60
    )
    answer["cpu_s"] = server.cpu_s() - before_cpu
    return answer


def _flap_latencies(watch: RelayWatch, sent: list[list[Any]]) -> tuple[list[float], int]:
    latencies, missing = [], 0
    for number, status, at in sent:
        seen = [
            s
            for s in watch.statuses.get(number, [])
            if s.status == status and s.created_at >= math.floor(at) and s.at >= at
        ]
        if seen:
            latencies.append(min(s.at for s in seen) - at)
        else:
            missing += 1
    return latencies, missing


def _boot_lags(watch: RelayWatch, booted_at: dict[str, float]) -> tuple[list[float], int]:
    """BootNotification -> that charger's online status is what the relay holds."""
    lags, missing = [], 0
    for key, at in booted_at.items():
        number = int(key)
        latest = watch.latest(number)
        if latest is None or latest.status != "Available":
            missing += 1
            continue
        after = [
            s
            for s in watch.statuses.get(number, [])
            if s.created_at >= math.floor(at) and s.status == "Available"
        ]
        lags.append(max(0.0, min(s.at for s in after) - at) if after else 0.0)
    return lags, missing


def _log_counts(log: Path) -> dict[str, Any]:
    text = log.read_text(errors="replace") if log.exists() else ""
    drops = [line for line in text.splitlines() if re.search(r"relay \S+ (?:dropped|says)", line)]
    return {
        "relay not connected": len(re.findall(r"relay not connected", text)),
        "relay dropped": len(re.findall(r"relay \S+ dropped", text)),
        "errors": len(re.findall(r" ERROR ", text)),
        "drop lines": drops[:5],
    }


async def _one_charger_rss(root: Path, relay_url: str) -> int:
    """RSS of ``zapcharge run`` with one configured charger, settled."""
    one = root / "one"
    write_identities(one / "identities", 1)
    port = free_port()
    ours = Ours(one, write_installation(one, relay_url, port, free_port()), port)
    await ours.start(60)
    assert ours.process is not None
    await ours.process.quiet(within=30)
    rss = ours.process.rss_kb()
    await ours.stop()
    return rss


async def run(chargers: int = 1000) -> None:
    raise_file_limit()
    with tempfile.TemporaryDirectory(prefix="zapcharge-bench-fleet-") as tmp:
        await _run(Path(tmp), chargers)


async def _run(root: Path, count: int) -> None:
    deadline_s = max(120.0, count * 0.1)
    _report(f"fleet of {count} chargers (phase deadline {deadline_s:.0f} s)")
    pubkeys = write_identities(root / "identities", count)
    ocpp_port, http_port = free_port(), free_port()
    async with local_relay() as relay_url, watching(relay_url, pubkeys) as watch:
        config = write_installation(root, relay_url, ocpp_port, http_port)
        simnode = Process(
            python("-m", "bot", "simnode", "--lightning-dir", str(root / "lightning")),
            root / "simnode.log",
        )
        ours = Ours(root, config, ocpp_port)
        bare, bare_port = await _bare(root)
        try:
            await _phases(
                root,
                count=count,
                deadline_s=deadline_s,
                ours=ours,
                bare=bare,
                bare_port=bare_port,
                watch=watch,
            )
        finally:
            await ours.stop()
            await bare.stop()
            await simnode.stop()
        counts = _log_counts(ours.log)
        _report(
            f"relay connection (zapcharge log): {counts['relay dropped']} drop(s) logged,"
            f" {counts['relay not connected']} 'relay not connected',"
            f" {counts['errors']} ERROR line(s)"
        )
        for line in counts["drop lines"]:
            _report(f"    {line}")


async def _phases(
    root: Path,
    *,
    count: int,
    deadline_s: float,
    ours: Ours,
    bare: Process,
    bare_port: int,
    watch: RelayWatch,
) -> None:
    # 1. start-up with N configured chargers (and with one, for the fixed part)
    base_rss = await _one_charger_rss(root, watch.url)
    startup_s = await ours.start(deadline_s)
    assert ours.process is not None
    server = ours.process
    all_status = await watch.until(lambda: len(watch.statuses) >= count, deadline_s)
    _report(
        f"start-up: OCPP answered {startup_s:.1f} s after start (target <= 10 s);"
        f" every charger's 33600 on the relay {time.monotonic() - server.started:.0f} s"
        f" after start{'' if all_status else ' (NOT all within the deadline)'};"
        f" {watch.presence_total()} presence event(s) (kinds 0/10002/10050/33000)"
    )
    await server.quiet(within=deadline_s)
    rss = server.rss_kb()
    _report(
        f"  memory before any charger connects: RSS {rss / 1024:,.0f} MB, with 1 charger"
        f" {base_rss / 1024:,.0f} MB: {(rss - base_rss) / max(1, count - 1):.1f} KB per"
        f" configured charger (target <= 10 KB)"
    )

    # 2. throughput
    await _throughput({}, bare_port, ours, root)

    # 3. connect N, 4. flapping (ours), 5. storm
    for side, process, port in (("bare", bare, bare_port), ("ours", server, ours.port)):
        load, connected = await _connect_phase(
            side, server=process, port=port, count=count, root=root, deadline_s=deadline_s
        )
        _report(
            f"  connect {side:4}: {connected['accepted']}/{count} Accepted in"
            f" {connected['seconds']:.1f} s, {connected['cpu_s']:.1f} CPU-s,"
            f" {connected['idle_kb']:.1f} KB per idle charger; closes: {connected['closed']}"
        )
        if side == "ours":
            # The statuses of the connect go out after it (they step back while chargers
            # connect): flapping is measured once they are on the relay, not behind them.
            shown = await watch.until(
                lambda: all(
                    (s := watch.latest(n)) is not None and s.status == "Available"
                    for n in range(count)
                ),
                deadline_s,
            )
            _report(
                f"  connect ours: every charger's 33600 Available on the relay"
                f" {time.time() - connected['started']:.0f} s after the connect began"
                f"{'' if shown else ' (NOT all within the deadline)'}"
            )
            flapped = await load.ask(
                {"op": "flap", "count": FLAPPING, "duration": FLAP_S, "period": FLAP_PERIOD_S},
                FLAP_S + 60,
            )
            await asyncio.sleep(10)  # the last changes reach the relay
            latencies, missing = _flap_latencies(watch, flapped["sent"])
            _report(
                f"  status latency, {min(FLAPPING, count)} flapping every {FLAP_PERIOD_S:g} s:"
                f" StatusNotification -> 33600 on the relay p50 {percentile(latencies, 50):.2f} s,"
                f" p99 {percentile(latencies, 99):.2f} s,"
                f" max {max(latencies, default=math.nan):.2f} s"
                f" over {len(latencies)} change(s), {missing} never seen (target p99 <= 5 s)"
            )
        stormed = await _storm_phase(load, process, deadline_s)
        _report(
            f"  storm   {side:4}: {stormed['accepted']}/{count} Accepted in"
            f" {stormed['seconds']:.1f} s, {stormed['cpu_s']:.1f} CPU-s;"
            f" closes: {stormed['closed']}"
        )
        if side == "ours":
            await watch.until(
                lambda: all(
                    (s := watch.latest(n)) is not None and s.status == "Available"
                    for n in range(count)
                ),
                min(120.0, deadline_s),
            )
            lags, missing = _boot_lags(watch, stormed["booted_at"])
            _report(
                f"  storm boot -> 33600 on the relay: p50 {percentile(lags, 50):.1f} s,"
                f" p99 {percentile(lags, 99):.1f} s, max {max(lags, default=math.nan):.1f} s,"
                f" {missing} not shown online (target every one <= 60 s)"
            )
        await load.ask({"op": "close"}, 60)
        await load.stop()

    # 6. restart with the same data
    await ours.stop()
    presence_before = watch.presence_total()
    restart_s = await ours.start(deadline_s)
    await asyncio.sleep(10)
    _report(
        f"restart: OCPP answered {restart_s:.1f} s after start;"
        f" {watch.presence_total() - presence_before} presence event(s) published again"
        f" (target 0: nothing changed)"
    )
