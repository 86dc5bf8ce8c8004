"""A misspelt or mistyped session field is a type error, not a silent no-op."""

from __future__ import annotations

from pathlib import Path

import pytest
from mypy import api

SNIPPET = """
from bot.sessions.machine import Event, State
from bot.sessions.records import SessionRecords

async def stop(records: SessionRecords) -> None:
    await records.apply("s", State.CHARGING, Event.DRIVER_STOP, stop_reson="driver")
    await records.update("s", State.CHARGING, progress_wh="12")
    await records.apply("s", State.CHARGING, Event.DRIVER_STOP, stop_reason="driver")
"""


@pytest.mark.slow
def test_mypy_refuses_a_misspelt_and_a_mistyped_field(tmp_path: Path) -> None:
    snippet = tmp_path / "snippet.py"
    snippet.write_text(SNIPPET)
    out, _, status = api.run([str(snippet), "--strict", "--cache-dir", str(tmp_path / "cache")])
    errors = [line for line in out.splitlines() if ": error:" in line]
    assert status == 1
    assert len(errors) == 2, out
    assert 'snippet.py:6: error: Unexpected keyword argument "stop_reson"' in errors[0]
    assert "snippet.py:7: error: Argument" in errors[1] and '"str"' in errors[1]
