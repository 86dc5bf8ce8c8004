"""The console as an operator uses it: a real headless Chromium logs in with a NIP-07 signer,
reads every page and stops a running session, end to end through the session code.

Chromium comes from Debian's packages; ``make test`` installs it when it is missing and
the user is root (see the Makefile's ``browser`` target). Without it this test is skipped
and says why.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.sessions.machine import State
from tests.console.browser import chromium_path, headless_chromium
from tests.console.support import console_rig

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        chromium_path() is None,
        reason="chromium is not installed and could not be (run `make browser` as root on "
        "Debian, or `apt-get install chromium`)",
    ),
]


async def test_operator_logs_in_reads_every_page_and_stops_a_session(tmp_path: Path) -> None:
    async with console_rig(tmp_path) as c, headless_chromium(c.operator) as browser:
        sim = await c.rig.charger(clock_speed=10.0)
        session = await c.rig.paid_session(2_000_000)
        await c.rig.reaches(session.id, State.CHARGING)

        # Closed until logged in: the console answers with the log-in page.
        await browser.open(c.url("/console"))
        assert "Log in" in await browser.text()
        await browser.until("the NIP-07 button appears", lambda: browser.evaluate("!nip07.hidden"))
        await browser.click("#nip07")
        await browser.until("logged in", lambda: _at(browser, c.url("/console")))
        await browser.loaded()
        [login] = browser.signed
        assert login["kind"] == 27235
        assert ["u", c.url("/console/login")] in login["tags"]
        fleet = await browser.text()
        assert "cp-001" in fleet and "online" in fleet and "Available" not in fleet[:0]
        # The live script is running: the stream updated the badge.
        await browser.until(
            "live updates", lambda: browser.evaluate("live.textContent.startsWith('live')")
        )

        for path, expected in [
            ("/console/chargers/cp-001", "Meter log check"),
            ("/console/sessions", session.id),
            ("/console/sessions?state=charging", session.id),
            ("/console/money", "Download CSV"),
            ("/console/unclaimed", "no session accounts for"),
            ("/console/outbox", "waiting for a relay"),
            ("/console/actions", "operator"),
        ]:
            await browser.open(c.url(path))
            text = await browser.text()
            assert expected in text, path
            assert session.token not in text
        await browser.open(c.url("/console/money"))
        assert await browser.evaluate("document.querySelectorAll('svg rect.bar').length") >= 3

        # The stop action: session page -> confirmation -> confirm -> the session stops.
        await browser.open(c.url(f"/console/sessions/{session.id}"))
        await browser.click("a.action[href*='/confirm/stop/']")
        await browser.loaded()
        assert "RemoteStopTransaction" in await browser.text()
        await browser.click("#confirm")
        await browser.loaded()
        assert "Stopping" in await browser.evaluate("result.textContent")
        done = await c.rig.reaches(session.id, State.REFUNDING, State.CLOSED)
        assert done.stop_reason == "operator_stop"
        assert sim.commands("RemoteStopTransaction")

        await browser.open(c.url("/console/actions"))
        log = await browser.text()
        assert "stop" in log and session.id in log and "npub1" in log
        await browser.screenshot(str(tmp_path / "actions.png"))
        assert (tmp_path / "actions.png").stat().st_size > 1000


async def _at(browser: object, url: str) -> bool:
    from tests.console.browser import Browser

    assert isinstance(browser, Browser)
    return await browser.url() in (url, url + "/")
