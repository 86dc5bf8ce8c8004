"""What an operator can do from the console, each logged with who did it.

Every action goes through the code the rest of the bot uses: a stop is the session
service's ``stop`` (the same transition, RemoteStop, settlement and refund as a driver's
``stop``), a refund retry wakes the same refund step, charger commands go through the
:class:`~bot.ports.ChargerOperations` port of the OCPP server. :data:`ACTIONS` lists them
with what they need and the sentence the confirmation page shows. Each run is written to
the log (``console: <operator> <action> <target> -> <outcome>``) and to ``console_actions``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol, cast, get_args

from bot.console.auth import Operator
from bot.errors import ConsoleError, OcppError, ZapchargeError
from bot.ports import ChargerOperations, EventsRefresh, OperatorTrigger, ResetKind
from bot.sessions.machine import Event, State
from bot.sessions.record import Session
from bot.store.console import ConsoleStore

__all__ = ["ACTIONS", "ActionResult", "ActionSpec", "Actions", "SessionDesk", "parse_params"]

log = logging.getLogger("bot.console")

Target = Literal["session", "charger", "fleet"]


@dataclass(frozen=True)
class ActionSpec:
    target: Target
    title: str
    explain: str  # what will happen, for the confirmation page
    params: tuple[str, ...] = ()


ACTIONS: Mapping[str, ActionSpec] = {
    "stop": ActionSpec(
        "session",
        "Stop session",
        "The charger is told to stop (RemoteStopTransaction); the session is settled on its "
        "meter and whatever was not used is refunded to the driver.",
    ),
    "retry-refund": ActionSpec(
        "session",
        "Retry refund",
        "The refund is tried again now instead of after its backoff. It is claimed before "
        "it is paid, so it can never be paid twice.",
    ),
    "reset": ActionSpec(
        "charger",
        "Reset charger",
        "The charger restarts (Soft: after ending transactions; Hard: at once). Running "
        "sessions are stopped by the charger and settled.",
        ("kind",),
    ),
    "unlock": ActionSpec(
        "charger",
        "Unlock connector",
        "The connector's cable lock is released (UnlockConnector); a running transaction "
        "on it may be stopped by the charger.",
        ("connector",),
    ),
    "availability": ActionSpec(
        "charger",
        "Change availability",
        "The connector (0: the whole charger) becomes available or unavailable "
        "(ChangeAvailability); with a transaction running the charger may schedule it.",
        ("connector", "available"),
    ),
    "trigger": ActionSpec(
        "charger",
        "Trigger message",
        "The charger is asked to send a message again (TriggerMessage).",
        ("message", "connector"),
    ),
    "refresh": ActionSpec(
        "charger",
        "Refresh events",
        "The charger's profile, relay lists, location and status are published again.",
    ),
    "reload": ActionSpec(
        "fleet",
        "Reload chargers",
        "identities/ is read again and checked; new chargers start, removed ones take no "
        "new sessions and finish their running ones. A broken file changes nothing.",
    ),
}


@dataclass(frozen=True)
class ActionResult:
    ok: bool
    message: str
    answer: str | None = None  # the charger's own word (Accepted, Rejected, Unlocked, ...)

    def as_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "message": self.message, "answer": self.answer}


class SessionDesk(Protocol):
    """The session service as the console uses it."""

    async def stop(self, session: Session, event: Event) -> str: ...

    def retry_refund_now(self, session_id: str) -> None: ...


Reload = Callable[[], Awaitable[tuple[bool, str]]]


def parse_params(action: str, raw: Mapping[str, Any]) -> dict[str, Any]:
    """The action's parameters from JSON values or form strings; ConsoleError 400 if wrong."""
    spec = ACTIONS.get(action)
    if spec is None:
        raise ConsoleError(f"unknown action {action!r}", 404)
    params: dict[str, Any] = {}
    if "kind" in spec.params:
        kind = raw.get("kind", "Soft")
        if kind not in get_args(ResetKind):
            raise ConsoleError("kind must be Soft or Hard", 400)
        params["kind"] = kind
    if "connector" in spec.params:
        default = None if action == "trigger" else (0 if action == "availability" else 1)
        params["connector"] = _integer(raw.get("connector", default), "connector")
    if "available" in spec.params:
        params["available"] = _boolean(raw.get("available"), "available")
    if "message" in spec.params:
        message = raw.get("message", "StatusNotification")
        if message not in get_args(OperatorTrigger):
            choices = ", ".join(get_args(OperatorTrigger))
            raise ConsoleError(f"message must be one of {choices}", 400)
        params["message"] = message
    return params


def _integer(value: Any, name: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ConsoleError(f"{name} must be a whole number", 400)
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ConsoleError(f"{name} must be a whole number", 400) from None
    if not 0 <= number <= 1000:
        raise ConsoleError(f"{name} must be within 0..1000", 400)
    return number


def _boolean(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "yes", "1", "on"):
        return True
    if isinstance(value, str) and value.lower() in ("false", "no", "0", "off"):
        return False
    raise ConsoleError(f"{name} must be true or false", 400)


class Actions:
    def __init__(
        self,
        store: ConsoleStore,
        sessions: SessionDesk,
        control: ChargerOperations,
        *,
        known_charger: Callable[[str], bool],
        refresher: EventsRefresh | None = None,
        reload: Reload | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.sessions = sessions
        self.control = control
        self.known_charger = known_charger
        self.refresher = refresher
        self.reload = reload
        self.clock = clock

    async def run(
        self, operator: Operator, action: str, target: str, params: dict[str, Any]
    ) -> ActionResult:
        """Run one confirmed action; ConsoleError (404/409) when its target is wrong."""
        spec = ACTIONS[action]
        await self._check_target(spec, target)
        try:
            result = await self._run(action, target, params)
        except OcppError as error:  # ChargerOffline included: the charger did not do it
            result = ActionResult(False, str(error))
        except ZapchargeError as error:
            if isinstance(error, ConsoleError):
                await self._record(operator, action, target, params, "refused", str(error))
                raise
            result = ActionResult(False, str(error))
        outcome = "done" if result.ok else "failed"
        await self._record(operator, action, target, params, outcome, result.message)
        return result

    async def _check_target(self, spec: ActionSpec, target: str) -> None:
        if spec.target == "session" and await self.store.session(target) is None:
            raise ConsoleError(f"no session {target}", 404)
        if spec.target == "charger" and not self.known_charger(target):
            raise ConsoleError(f"no charger {target}", 404)

    async def _run(self, action: str, target: str, params: dict[str, Any]) -> ActionResult:
        if action in ("stop", "retry-refund"):
            return await self._session_action(action, target)
        if action == "refresh":
            if self.refresher is None:
                raise ConsoleError("no nostr side is running", 409)
            count = await self.refresher.refresh_charger(target)
            return ActionResult(True, f"{count} event(s) queued for the relays")
        if action == "reload":
            if self.reload is None:
                raise ConsoleError("reload is not available here", 409)
            ok, message = await self.reload()
            return ActionResult(ok, message)
        answer = await self._command(action, target, params)
        accepted = answer in ("Accepted", "Scheduled", "Unlocked")
        return ActionResult(
            accepted, f"{ACTIONS[action].title}: the charger answered {answer}", answer
        )

    async def _command(self, action: str, target: str, params: dict[str, Any]) -> str:
        control = self.control
        if action == "reset":
            return await control.reset(target, cast(ResetKind, params["kind"]))
        if action == "unlock":
            return await control.unlock_connector(target, params["connector"] or 1)
        if action == "availability":
            return await control.change_availability(
                target, params["connector"] or 0, params["available"]
            )
        message = cast(OperatorTrigger, params["message"])
        return await control.trigger_message(target, message, params["connector"])

    async def _session_action(self, action: str, session_id: str) -> ActionResult:
        row = await self.store.session(session_id)
        assert row is not None  # checked by _check_target
        session = Session.from_row(row)
        if action == "stop":
            text = await self.sessions.stop(session, Event.OPERATOR_STOP)
            return ActionResult(True, text)
        if session.state is not State.REFUNDING:
            raise ConsoleError(
                f"session {session_id} is {session.state.value}: there is no refund to retry", 409
            )
        self.sessions.retry_refund_now(session_id)
        return ActionResult(True, "the refund is being tried again now")

    async def _record(  # noqa: PLR0917 -- one audit row: every field is needed
        self,
        operator: Operator,
        action: str,
        target: str,
        params: dict[str, Any],
        outcome: str,
        detail: str,
    ) -> None:
        log.info(
            "console: %s %s %s %s -> %s: %s", operator.name, action, target, params, outcome, detail
        )
        await self.store.record_action(
            at=self.clock(),
            operator=operator.name,
            action=action,
            target=target,
            params=params,
            outcome=outcome,
            detail=detail,
        )
