""" "Tell me when it is free": a driver's DM ``notify`` to a busy charger, told once when a
connector becomes Available. The repository lives in :mod:`bot.store.notify`."""

__all__: list[str] = []
