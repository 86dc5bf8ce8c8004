"""The drivers' DM commands, all of them, in one place: a :class:`~bot.ports.DriverCommands`.

``status`` and ``stop`` belong to the session layer; ``notify`` / ``notify off`` to the
notice service; ``cancel`` to the reservation service; ``help`` (and anything unknown)
lists every command. ``status`` also says when the driver holds a reservation here.
"""

from __future__ import annotations

from datetime import UTC, datetime

from bot.notify.service import NotifyService
from bot.ports import DriverCommands
from bot.reservations.machine import State
from bot.reservations.service import ReservationService
from bot.sessions import texts as session_texts

__all__ = ["DriverDesk"]


class DriverDesk:
    def __init__(
        self, sessions: DriverCommands, notify: NotifyService, reservations: ReservationService
    ) -> None:
        self.sessions, self.notify, self.reservations = sessions, notify, reservations

    async def driver_command(self, charger_id: str, sender_pubkey: str, command: str) -> str:
        word = " ".join(command.strip().lower().split())
        if word == "notify":
            return await self.notify.ask(charger_id, sender_pubkey)
        if word == "notify off":
            return await self.notify.off(charger_id, sender_pubkey)
        if word == "cancel":
            mine = await self.reservations.mine(charger_id, sender_pubkey)
            return await self.reservations.cancel(mine)
        if word == "stop":
            return await self.sessions.driver_command(charger_id, sender_pubkey, word)
        if word == "status":
            reply = await self.sessions.driver_command(charger_id, sender_pubkey, word)
            mine = await self.reservations.mine(charger_id, sender_pubkey)
            if mine is not None and mine.state is State.RESERVED and mine.expires_at:
                until = datetime.fromtimestamp(mine.expires_at, UTC).strftime("%H:%M UTC")
                reply += f" Reservation: connector {mine.connector_id} held until {until}."
            return reply
        return session_texts.HELP
