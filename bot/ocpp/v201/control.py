"""Commands to OCPP 2.0.1 stations: the ChargerControl calls in 2.0.1 words, and the rest.

:class:`Control` is what :class:`~bot.ocpp.CentralSystem` uses for a charger that
negotiated ``ocpp2.0.1`` (``central.v201`` for the commands 1.6 does not have). Transaction
ids on the seam stay ours (integers); the charger's own string id is looked up here.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Literal, TypeVar

from bot.errors import OcppError
from bot.log import charger_log
from bot.ocpp.commands import Command
from bot.ocpp.v201 import commands
from bot.ocpp.v201.commands import SAMPLED_DATA, TX_MEASURANDS, Variable, VariableResult
from bot.store.ocpp201 import Ocpp201Store
from bot.store.transactions import TransactionRow

__all__ = ["Control", "Send"]

log = logging.getLogger("bot.ocpp")

T = TypeVar("T")
Send = Callable[[str, Command[Any]], Awaitable[Any]]

TX_UPDATED_INTERVAL = Variable(SAMPLED_DATA, "TxUpdatedInterval")
TX_UPDATED_MEASURANDS = Variable(SAMPLED_DATA, "TxUpdatedMeasurands")


class Control:
    def __init__(self, send: Send, store: Ocpp201Store, clock: Callable[[], float]) -> None:
        self._send = send
        self._store = store
        self._clock = clock

    async def remote_start(self, charger_id: str, evse_id: int, id_token: str) -> bool:
        remote_start_id = await self._store.remote_start_sent(
            charger_id, id_token, evse_id, self._clock()
        )
        command = commands.request_start(evse_id, id_token, remote_start_id)
        return bool(await self._send(charger_id, command) == "Accepted")

    async def remote_stop(self, charger_id: str, transaction_id: int) -> bool:
        link = await self._store.link_by_id(transaction_id)
        if link is None or link.charger_id != charger_id:
            raise OcppError(
                f"transaction {transaction_id} is no OCPP 2.0.1 transaction of {charger_id}"
            )
        command = commands.request_stop(link.charger_tx_id)
        return bool(await self._send(charger_id, command) == "Accepted")

    async def set_sample_interval(self, charger_id: str, seconds: int) -> bool:
        """TxUpdatedInterval (and the measurands a budget needs); only Accepted counts."""
        results = await self.set_variables(
            charger_id, {TX_UPDATED_INTERVAL: str(seconds), TX_UPDATED_MEASURANDS: TX_MEASURANDS}
        )
        statuses = {r.variable.variable: r.status for r in results}
        if statuses.get("TxUpdatedMeasurands") != "Accepted":
            charger_log(log, charger_id).warning(
                "TxUpdatedMeasurands %s: energy may come only at the end",
                statuses.get("TxUpdatedMeasurands"),
            )
        return statuses.get("TxUpdatedInterval") == "Accepted"

    async def reconcile(self, charger_id: str, open_rows: Sequence[TransactionRow]) -> None:
        """After a (re)connect: the status and a fresh TransactionEvent of each open one."""
        clog = charger_log(log, charger_id)
        for row in open_rows:
            link = await self._store.link_by_id(row.id)
            if link is None:
                continue
            clog.info("reconnected with transaction %d open on EVSE %d", row.id, link.evse_id)
            for message in ("StatusNotification", "TransactionEvent"):
                try:
                    await self.trigger_message(charger_id, message, link.evse_id, link.connector_id)
                except Exception as error:  # a failed reconcile must not end the connection
                    clog.warning("could not ask EVSE %d for %s: %s", link.evse_id, message, error)

    async def set_variables(
        self, charger_id: str, values: Mapping[Variable, str]
    ) -> tuple[VariableResult, ...]:
        result: tuple[VariableResult, ...] = await self._send(
            charger_id, commands.set_variables(values)
        )
        return result

    async def get_variables(
        self, charger_id: str, variables: Sequence[Variable]
    ) -> tuple[VariableResult, ...]:
        result: tuple[VariableResult, ...] = await self._send(
            charger_id, commands.get_variables(variables)
        )
        return result

    async def trigger_message(
        self,
        charger_id: str,
        message: commands.TriggerableMessage,
        evse_id: int | None = None,
        connector_id: int | None = None,
    ) -> commands.TriggerStatus:
        command = commands.trigger_message(message, evse_id, connector_id)
        status: commands.TriggerStatus = await self._send(charger_id, command)
        return status

    async def unlock_connector(
        self, charger_id: str, evse_id: int, connector_id: int = 1
    ) -> commands.UnlockStatus:
        status: commands.UnlockStatus = await self._send(
            charger_id, commands.unlock_connector(evse_id, connector_id)
        )
        return status

    async def reset(
        self,
        charger_id: str,
        kind: Literal["Immediate", "OnIdle"] = "OnIdle",
        evse_id: int | None = None,
    ) -> commands.ResetStatus:
        status: commands.ResetStatus = await self._send(charger_id, commands.reset(kind, evse_id))
        return status

    async def change_availability(
        self,
        charger_id: str,
        operative: bool,
        evse_id: int | None = None,
        connector_id: int | None = None,
    ) -> commands.AvailabilityStatus:
        command = commands.change_availability(operative, evse_id, connector_id)
        status: commands.AvailabilityStatus = await self._send(charger_id, command)
        return status

    async def set_charging_profile(
        self, charger_id: str, evse_id: int, profile: Mapping[str, Any]
    ) -> commands.ChargingProfileStatus:
        command = commands.set_charging_profile(evse_id, profile)
        status: commands.ChargingProfileStatus = await self._send(charger_id, command)
        return status

    async def charger_tx_id(self, transaction_id: int) -> str | None:
        link = await self._store.link_by_id(transaction_id)
        return None if link is None else link.charger_tx_id
