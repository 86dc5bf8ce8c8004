"""Build the console from its parts: what ``app.py`` calls, in one phase."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from bot.config import Config
from bot.console.actions import Actions, Reload, SessionDesk
from bot.console.auth import Gate
from bot.console.views import Roster, StaticRoster, Views
from bot.console.web import Console
from bot.ports import ChargerOperations, EventsRefresh
from bot.pricing.point import PriceAt
from bot.store.console import ConsoleStore
from bot.store.db import Database

__all__ = ["build_console"]

log = logging.getLogger("bot.console")


def build_console(
    config: Config,
    db: Database,
    *,
    sessions: SessionDesk,
    control: ChargerOperations,
    prices: PriceAt | None = None,
    refresher: EventsRefresh | None = None,
    roster: Roster | None = None,
    reload: Reload | None = None,
    clock: Callable[[], float] = time.time,
) -> Console:
    roster = roster or StaticRoster(config.chargers)
    if not config.console.open_to_anyone:
        log.info("console at /console is closed: no [console] operators and no token_file")
    gate = Gate(config.console, config.service.public_url, clock=clock)
    views = Views(roster, db, control, prices=prices)
    actions = Actions(
        ConsoleStore(db),
        sessions,
        control,
        known_charger=lambda charger_id: views.charger_config(charger_id) is not None,
        refresher=refresher,
        reload=reload,
        clock=clock,
    )
    return Console(gate, views, actions, clock=clock)
