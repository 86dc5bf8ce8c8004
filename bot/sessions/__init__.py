"""Charging sessions: the state machine, tariffs and quotes, settlement, ids and the service.
the repository lives in :mod:`bot.store.sessions` and :mod:`bot.store.refunds`."""

__all__: list[str] = []
