from __future__ import annotations

import base64
from http import HTTPStatus

import pytest

from bot.ocpp.auth import Admitted, Refused, admit

PASSWORDS = {"cp-001": "secret-pass", "cp-002": "other-pass"}


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_the_right_charger_with_its_password_is_admitted() -> None:
    assert admit("/ocpp/cp-001", basic("cp-001", "secret-pass"), PASSWORDS) == Admitted("cp-001")
    assert admit("/ocpp/cp-001/?x=1", basic("cp-001", "secret-pass"), PASSWORDS) == Admitted(
        "cp-001"
    )


@pytest.mark.parametrize(
    ("path", "header", "status"),
    [
        ("/ocpp/cp-009", basic("cp-009", "secret-pass"), HTTPStatus.NOT_FOUND),
        ("/other/cp-001", basic("cp-001", "secret-pass"), HTTPStatus.NOT_FOUND),
        ("/ocpp/cp-001", None, HTTPStatus.UNAUTHORIZED),
        ("/ocpp/cp-001", basic("cp-001", "wrong"), HTTPStatus.UNAUTHORIZED),
        ("/ocpp/cp-001", basic("cp-002", "other-pass"), HTTPStatus.UNAUTHORIZED),
        ("/ocpp/cp-001", "Bearer abc", HTTPStatus.UNAUTHORIZED),
        ("/ocpp/cp-001", "Basic !!!", HTTPStatus.UNAUTHORIZED),
        ("/ocpp/cp-001", "Basic " + base64.b64encode(b"nocolon").decode(), HTTPStatus.UNAUTHORIZED),
    ],
)
def test_refusals(path: str, header: str | None, status: HTTPStatus) -> None:
    decision = admit(path, header, PASSWORDS)
    assert isinstance(decision, Refused) and decision.status == status
    assert decision.challenge == (status == HTTPStatus.UNAUTHORIZED)
    assert "secret" not in decision.reason
