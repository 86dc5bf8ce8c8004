from __future__ import annotations

import re

import pytest

from bot.demo import run_demo


@pytest.mark.slow
@pytest.mark.parametrize(
    ("ocpp", "backend"), [("1.6", "simnode"), ("2.0.1", "simnode"), ("1.6", "nwc")]
)
async def test_the_demo_tells_the_whole_story_and_every_step_happens(
    ocpp: str, backend: str
) -> None:
    lines: list[str] = []
    assert await run_demo(lines.append, ocpp=ocpp, backend=backend) == 0, "\n".join(lines)
    story = "\n".join(lines)
    over_nwc = "reached over Nostr Wallet Connect: a SIMULATED NIP-47 wallet service"
    assert (over_nwc in story) is (backend == "nwc")
    for step in (
        f"speaking OCPP {ocpp}",
        "the charger is online and published",
        "1:Available",
        "zaps 1000 sats",
        "checks out (NIP-57 appendix F)",
        "DM> Charging started",
        "DM> Charging: ",
        "DM> Charging stopped. Receipt:",
        "budget reached",
        "DM> Your refund of",
        "withdrawn",
        "DM> Refund of",
        "closed:",
        "demo complete",
    ):
        assert step in story, f"missing {step!r} in:\n{story}"
    books = re.search(r"paid (\d+) msat = (\d+) kept \+ (\d+) refunded", story)
    assert books is not None
    paid, kept, refunded = map(int, books.groups())
    assert paid == 1_000_000 and kept + refunded == paid and refunded > 0
