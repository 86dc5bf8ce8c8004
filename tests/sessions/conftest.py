"""The session tests that run for both charger protocols take the ``ocpp`` fixture."""

from __future__ import annotations

import pytest

from tests.sessions.support import PROTOCOLS


@pytest.fixture(params=PROTOCOLS)
def ocpp(request: pytest.FixtureRequest) -> str:
    """The OCPP version the simulated chargers speak: "1.6" and "2.0.1"."""
    return str(request.param)
