"""Reservations bought with a zap: the lifecycle table, the service that runs it, the texts.
The repository lives in :mod:`bot.store.reservations`."""

__all__: list[str] = []
