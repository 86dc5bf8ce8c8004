"""Whether a payment may start a session now, and where; or top up the payer's session."""

from __future__ import annotations

import pytest

from bot.errors import LnurlError
from bot.lnurl.admission import Admission, ConnectorView, HeldBy, admit
from bot.sessions.machine import State

PAYER = "aa" * 32
OTHER = "bb" * 32


def held(state: State = State.CHARGING, payer: str | None = PAYER) -> HeldBy:
    return HeldBy("s-1", "token", state, payer)


def refusal(**kwargs: object) -> str:
    with pytest.raises(LnurlError) as info:
        admit(**kwargs)  # type: ignore[arg-type]
    return info.value.reason


def test_a_free_available_connector_is_admitted() -> None:
    views = [ConnectorView(1, "Available")]
    assert admit(online=True, connectors=views, wanted=None, payer_pubkey=None) == Admission(1)


def test_the_first_free_connector_is_chosen() -> None:
    views = [
        ConnectorView(1, "Charging", held(payer=OTHER)),
        ConnectorView(2, "Faulted"),
        ConnectorView(3, "Preparing"),
    ]
    assert admit(online=True, connectors=views, wanted=None, payer_pubkey=None).connector_id == 3


def test_offline_refuses_new_sessions() -> None:
    views = [ConnectorView(1, "Available")]
    reason = refusal(online=False, connectors=views, wanted=None, payer_pubkey=PAYER)
    assert "offline" in reason


@pytest.mark.parametrize("state", [State.PAID, State.STARTING, State.CHARGING])
def test_the_payer_of_a_running_session_tops_it_up(state: State) -> None:
    session = held(state)
    views = [ConnectorView(1, "Charging", session)]
    result = admit(online=False, connectors=views, wanted=None, payer_pubkey=PAYER)
    assert result == Admission(1, topup=session)


def test_a_stopping_session_takes_no_more_money() -> None:
    views = [ConnectorView(1, "Charging", held(State.STOPPING))]
    assert "stopping" in refusal(online=True, connectors=views, wanted=None, payer_pubkey=PAYER)


def test_someone_else_cannot_join_a_running_session() -> None:
    views = [ConnectorView(1, "Charging", held())]
    reason = refusal(online=True, connectors=views, wanted=None, payer_pubkey=OTHER)
    assert reason == "connector 1 is in use by another session"
    reason = refusal(online=True, connectors=views, wanted=None, payer_pubkey=None)
    assert reason == "connector 1 is in use by another session"


def test_a_wanted_connector_must_exist_and_be_free() -> None:
    views = [ConnectorView(1, "Available"), ConnectorView(2, None)]
    assert refusal(online=True, connectors=views, wanted=3, payer_pubkey=None) == (
        "this charger has no connector 3"
    )
    assert refusal(online=True, connectors=views, wanted=2, payer_pubkey=None) == (
        "connector 2 has not reported its status yet"
    )
    assert admit(online=True, connectors=views, wanted=1, payer_pubkey=None) == Admission(1)


def test_a_top_up_is_found_only_on_the_wanted_connector() -> None:
    views = [ConnectorView(1, "Charging", held()), ConnectorView(2, "Available")]
    assert admit(online=True, connectors=views, wanted=2, payer_pubkey=PAYER) == Admission(2)
